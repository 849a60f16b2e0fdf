"""Spikformer (spiking patch splitting + spiking self attention), sized by its constructor.

Follows the published architecture: every neuron is LIF(tau=2), residual adds sum spikes, the
attention product has no softmax and is scaled by 0.125, and the neuron after it fires at 0.5.
Layouts: conv/BN/pool run on [T*B, C, H, W]; token layers run on [T*B*N, D] (BatchNorm1d over D,
the same statistics as the paper's BatchNorm1d on [T*B, D, N]); neurons see [T, B, ...].
"""

from typing import Optional, Sequence

import torch
from torch import nn

from .layout import repeat_time, unfold_time
from .neurons import LIF


class ConvStage(nn.Module):
    """Conv3x3 (no bias) -> BN -> LIF, then optionally MaxPool3x3/2 on the spikes."""

    def __init__(self, in_channels: int, out_channels: int, T: int, pool: bool):
        super().__init__()
        self.T = T
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.lif = LIF(tau=2.0)
        self.pool: Optional[nn.MaxPool2d] = (
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if pool else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        x = self.lif(unfold_time(x, self.T)).flatten(0, 1)
        if self.pool is not None:
            x = self.pool(x)
        return x


class SPS(nn.Module):
    """Spiking patch splitting: four conv stages (D/8, D/4, D/2, D channels) and a relative
    position embedding LIF(BN(Conv3x3(x))) + x. [T, B, C, H, W] -> tokens [T, B, N, D]."""

    def __init__(self, in_channels: int, dim: int, T: int, pool_stages: Sequence[int]):
        super().__init__()
        self.T = T
        widths = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        self.stages = nn.ModuleList([
            ConvStage(widths[i], widths[i + 1], T, i in pool_stages) for i in range(4)])
        self.rpe_conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(dim)
        self.rpe_lif = LIF(tau=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(0, 1)
        for stage in self.stages:
            x = stage(x)
        rpe = self.rpe_lif(unfold_time(self.rpe_bn(self.rpe_conv(x)), self.T))
        x = rpe + unfold_time(x, self.T)                   # [T, B, D, h, w], values 0..2
        return x.flatten(3).transpose(-1, -2)              # [T, B, N, D]


class SSA(nn.Module):
    """Spiking self attention: q, k, v = LIF(BN(Linear(x))); LIF_0.5(q k^T v * 0.125);
    then Linear -> BN -> LIF."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError("dim must be a multiple of num_heads")
        self.num_heads = num_heads
        self.scale = 0.125
        self.q_linear = nn.Linear(dim, dim)
        self.q_bn = nn.BatchNorm1d(dim)
        self.q_lif = LIF(tau=2.0)
        self.k_linear = nn.Linear(dim, dim)
        self.k_bn = nn.BatchNorm1d(dim)
        self.k_lif = LIF(tau=2.0)
        self.v_linear = nn.Linear(dim, dim)
        self.v_bn = nn.BatchNorm1d(dim)
        self.v_lif = LIF(tau=2.0)
        self.attn_lif = LIF(tau=2.0, v_threshold=0.5)
        self.proj_linear = nn.Linear(dim, dim)
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = LIF(tau=2.0)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[T, B, N, D] -> [T, B, heads, N, D/heads]."""
        T, B, N, D = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        return x.reshape(T, B, N, self.num_heads, D // self.num_heads).permute(0, 1, 3, 2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        tokens = x.flatten(0, 2)                           # [T*B*N, D]
        q = self.q_lif(self.q_bn(self.q_linear(tokens)).reshape(T, B, N, D))
        k = self.k_lif(self.k_bn(self.k_linear(tokens)).reshape(T, B, N, D))
        v = self.v_lif(self.v_bn(self.v_linear(tokens)).reshape(T, B, N, D))
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        # Products of spikes are integer counts, so the order of the two matmuls and the
        # power-of-two scale do not change the result.
        attn = (q @ k.transpose(-2, -1)) * self.scale
        y = (attn @ v).transpose(2, 3).reshape(T, B, N, D)
        y = self.attn_lif(y)
        y = self.proj_bn(self.proj_linear(y.flatten(0, 2))).reshape(T, B, N, D)
        return self.proj_lif(y)


class MLP(nn.Module):
    """Linear -> BN -> LIF (hidden) -> Linear -> BN -> LIF, on tokens."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1_linear = nn.Linear(dim, hidden)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc1_lif = LIF(tau=2.0)
        self.fc2_linear = nn.Linear(hidden, dim)
        self.fc2_bn = nn.BatchNorm1d(dim)
        self.fc2_lif = LIF(tau=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        h = self.fc1_bn(self.fc1_linear(x.flatten(0, 2)))
        h = self.fc1_lif(h.reshape(T, B, N, -1))
        y = self.fc2_bn(self.fc2_linear(h.flatten(0, 2)))
        return self.fc2_lif(y.reshape(T, B, N, D))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: int):
        super().__init__()
        self.attn = SSA(dim, num_heads)
        self.mlp = MLP(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)                               # sums of spikes
        return x + self.mlp(x)


class Spikformer(nn.Module):
    """[B, C, H, W] image -> [B, classes] scores, after T steps of the same input."""

    def __init__(self, in_channels: int, dim: int, depth: int, num_heads: int,
                 pool_stages: Sequence[int], num_classes: int = 10, mlp_ratio: int = 4,
                 T: int = 4):
        super().__init__()
        self.T = T
        self.patch_embed = SPS(in_channels, dim, T, pool_stages)
        self.blocks = nn.ModuleList([Block(dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(repeat_time(x, self.T))
        for block in self.blocks:
            x = block(x)
        x = x.mean(2).mean(0)                              # tokens, then time
        return self.head(x)
