"""Spike-driven Transformer (v1): membrane shortcuts and spike-driven self attention (SDSA).

Unlike Spikformer the residual stream carries real values (membrane potentials); every branch
starts with its own LIF, so each layer's synaptic input is a spike: x = x + BN(layer(LIF(x))).
SDSA uses only element-wise spike masks and a sum over tokens, no matrix product of spikes.
"""

from typing import Optional, Sequence

import torch
from torch import nn

from .layout import repeat_time, unfold_time
from .neurons import LIF
from .spikformer import ConvStage


class MembraneSPS(nn.Module):
    """Patch splitting: three conv stages ending in spikes, a fourth conv -> BN (-> pool) that
    stays real-valued, and a membrane-shortcut position embedding BN(Conv(LIF(x))) + x.
    Note the optional last pool runs on real values, not spikes, as in the published model."""

    def __init__(self, in_channels: int, dim: int, T: int, pool_stages: Sequence[int]):
        super().__init__()
        self.T = T
        widths = [in_channels, dim // 8, dim // 4, dim // 2]
        self.stages = nn.ModuleList([
            ConvStage(widths[i], widths[i + 1], T, i in pool_stages) for i in range(3)])
        self.proj_conv = nn.Conv2d(dim // 2, dim, kernel_size=3, padding=1, bias=False)
        self.proj_bn = nn.BatchNorm2d(dim)
        self.proj_pool: Optional[nn.MaxPool2d] = (
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if 3 in pool_stages else None)
        self.rpe_lif = LIF(tau=2.0)
        self.rpe_conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(0, 1)
        for stage in self.stages:
            x = stage(x)
        x = self.proj_bn(self.proj_conv(x))
        if self.proj_pool is not None:
            x = self.proj_pool(x)
        s = self.rpe_lif(unfold_time(x, self.T)).flatten(0, 1)
        x = unfold_time(self.rpe_bn(self.rpe_conv(s)) + x, self.T)
        return x.flatten(3).transpose(-1, -2)              # [T, B, N, D], real values


class SDSA(nn.Module):
    """LIF(x) -> q, k, v = LIF(BN(Linear)); kv = LIF_0.5(sum over tokens of k*v);
    q * kv -> Linear -> BN."""

    def __init__(self, dim: int):
        super().__init__()
        self.shortcut_lif = LIF(tau=2.0)
        self.q_linear = nn.Linear(dim, dim)
        self.q_bn = nn.BatchNorm1d(dim)
        self.q_lif = LIF(tau=2.0)
        self.k_linear = nn.Linear(dim, dim)
        self.k_bn = nn.BatchNorm1d(dim)
        self.k_lif = LIF(tau=2.0)
        self.v_linear = nn.Linear(dim, dim)
        self.v_bn = nn.BatchNorm1d(dim)
        self.v_lif = LIF(tau=2.0)
        self.kv_lif = LIF(tau=2.0, v_threshold=0.5)
        self.proj_linear = nn.Linear(dim, dim)
        self.proj_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        tokens = self.shortcut_lif(x).flatten(0, 2)        # [T*B*N, D] spikes
        q = self.q_lif(self.q_bn(self.q_linear(tokens)).reshape(T, B, N, D))
        k = self.k_lif(self.k_bn(self.k_linear(tokens)).reshape(T, B, N, D))
        v = self.v_lif(self.v_bn(self.v_linear(tokens)).reshape(T, B, N, D))
        kv = self.kv_lif((k * v).sum(dim=2, keepdim=True))   # [T, B, 1, D]
        y = q * kv                                         # channel mask on every token
        return self.proj_bn(self.proj_linear(y.flatten(0, 2))).reshape(T, B, N, D)


class MembraneMLP(nn.Module):
    """LIF -> Linear -> BN -> LIF -> Linear -> BN."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1_lif = LIF(tau=2.0)
        self.fc1_linear = nn.Linear(dim, hidden)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc2_lif = LIF(tau=2.0)
        self.fc2_linear = nn.Linear(hidden, dim)
        self.fc2_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        h = self.fc1_bn(self.fc1_linear(self.fc1_lif(x).flatten(0, 2)))
        h = self.fc2_lif(h.reshape(T, B, N, -1)).flatten(0, 2)
        return self.fc2_bn(self.fc2_linear(h)).reshape(T, B, N, D)


class SDTBlock(nn.Module):
    def __init__(self, dim: int, mlp_ratio: int):
        super().__init__()
        self.attn = SDSA(dim)
        self.mlp = MembraneMLP(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)                               # membrane shortcut: real values
        return x + self.mlp(x)


class SpikeDrivenTransformer(nn.Module):
    """[B, C, H, W] image -> [B, classes]: mean over tokens -> LIF -> Linear, mean over T."""

    def __init__(self, in_channels: int, dim: int, depth: int, pool_stages: Sequence[int],
                 num_classes: int = 10, mlp_ratio: int = 4, T: int = 4):
        super().__init__()
        self.T = T
        self.patch_embed = MembraneSPS(in_channels, dim, T, pool_stages)
        self.blocks = nn.ModuleList([SDTBlock(dim, mlp_ratio) for _ in range(depth)])
        self.head_lif = LIF(tau=2.0)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(repeat_time(x, self.T))
        for block in self.blocks:
            x = block(x)
        x = self.head_lif(x.mean(2))                       # [T, B, D] spikes
        return self.head(x).mean(0)
