"""Layout helpers shared by the models: stateless layers run with time folded into the batch."""

from typing import List

import torch


def unfold_time(x: torch.Tensor, T: int) -> torch.Tensor:
    """[T*B, ...] -> [T, B, ...]."""
    shape: List[int] = [T, -1] + list(x.shape[1:])
    return x.reshape(shape)


def repeat_time(x: torch.Tensor, T: int) -> torch.Tensor:
    """[B, ...] -> [T, B, ...]: the same input at every step (direct coding, as Spikformer does)."""
    return x.unsqueeze(0).expand([T] + list(x.shape)).contiguous()
