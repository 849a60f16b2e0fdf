"""Test models for the spiked compiler: spiking networks in plain PyTorch, scriptable."""

from .cnn import SpikingCNN
from .mlp import SpikingMLP
from .neurons import IF, LIF
from .sdt import SpikeDrivenTransformer
from .spikformer import Spikformer

__all__ = ["IF", "LIF", "SpikingCNN", "SpikingMLP", "SpikeDrivenTransformer", "Spikformer"]
