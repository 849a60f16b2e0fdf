"""Small spiking CNN: two conv -> BN -> LIF stages and a float linear read-out."""

import torch
from torch import nn

from .layout import repeat_time, unfold_time
from .neurons import LIF


class SpikingCNN(nn.Module):
    """[B, C, H, W] image -> [B, classes] scores.

    Conv, BN and pooling see time folded into the batch ([T*B, C, H, W]); neurons see [T, B, ...].
    """

    def __init__(self, in_channels: int = 1, image_size: int = 8, channels: int = 16,
                 num_classes: int = 10, T: int = 4):
        super().__init__()
        self.T = T
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.lif1 = LIF(tau=2.0)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * channels)
        self.lif2 = LIF(tau=2.0)
        side = image_size // 2
        self.head = nn.Linear(2 * channels * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = repeat_time(x, self.T).flatten(0, 1)          # [T*B, C, H, W]
        x = self.bn1(self.conv1(x))
        x = self.lif1(unfold_time(x, self.T)).flatten(0, 1)
        x = self.pool1(x)                                  # max of spikes: an OR
        x = self.bn2(self.conv2(x))
        x = self.lif2(unfold_time(x, self.T))
        x = x.flatten(2)                                   # [T, B, features]
        return self.head(x).mean(0)
