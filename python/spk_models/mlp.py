"""Spiking MLP: the smallest fixture, one hidden LIF layer and a float read-out."""

import torch
from torch import nn

from .layout import repeat_time
from .neurons import LIF


class SpikingMLP(nn.Module):
    """[B, 1, 8, 8] image -> [B, classes] scores.

    The image is fed unchanged at every one of the T steps (direct coding); the float head is
    applied to each step's spikes and averaged over T.
    """

    def __init__(self, in_features: int = 64, hidden: int = 128, num_classes: int = 10,
                 T: int = 4):
        super().__init__()
        self.T = T
        self.fc1 = nn.Linear(in_features, hidden)
        self.lif1 = LIF(tau=2.0)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)                                   # [B, 64]
        x = repeat_time(x, self.T)                         # [T, B, 64]
        x = self.lif1(self.fc1(x))                         # [T, B, hidden] spikes
        return self.head(x).mean(0)
