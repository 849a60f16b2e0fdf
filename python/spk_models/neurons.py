"""Multi-step spiking neurons with SpikingJelly's MultiStepLIFNode / MultiStepIFNode semantics.

Input and output are [T, ...]: time is the leading axis, the rest is any shape. The membrane starts
at v_reset for every call, so independent forwards never share state.

Per step (SpikingJelly's order, including its special case for v_reset == 0, so the float rounding
is the same as theirs):
  charge  LIF, decay_input:      H = V + (X - (V - v_reset)) / tau    (v_reset 0: V + (X - V) / tau)
          LIF, not decay_input:  H = V - (V - v_reset) / tau + X      (v_reset 0: V * (1 - 1/tau) + X)
          IF:                    H = V + X
  fire    S = 1 if H >= v_threshold else 0
  reset   V = (1 - S) * H + S * v_reset   (hard reset; S detached, i.e. detach_reset=True)

The hyper-parameters are plain float/bool attributes so that they stay readable as module attributes
after torch.jit.script; the compiler frontend reads them by these exact names.
"""

import math

import torch
from torch import nn


class _SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside forward; derivative of sigmoid(alpha * x) backward (SpikingJelly's default)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        sg = torch.sigmoid(ctx.alpha * x)
        return grad_output * ctx.alpha * sg * (1.0 - sg), None


class _AtanSurrogateSpike(torch.autograd.Function):
    """Heaviside forward; derivative of atan(pi/2 * alpha * x) / pi + 1/2 backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad_output * (a / 2.0) / (1.0 + (math.pi / 2.0 * a * x) ** 2), None


def _surrogate_spike(x: torch.Tensor, surrogate: str, alpha: float) -> torch.Tensor:
    if surrogate == "atan":
        return _AtanSurrogateSpike.apply(x, alpha)
    return _SigmoidSurrogateSpike.apply(x, alpha)


class _SpikingNeuron(nn.Module):
    """Fire and hard reset shared by LIF and IF; subclasses define the charge step."""

    def __init__(self, v_threshold: float, v_reset: float, surrogate: str, alpha: float):
        super().__init__()
        if surrogate not in ("sigmoid", "atan"):
            raise ValueError(f"unknown surrogate {surrogate!r}")
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.detach_reset = True
        self.surrogate = surrogate
        self.surrogate_alpha = float(alpha)

    def _fire(self, h: torch.Tensor) -> torch.Tensor:
        # Scripted code (what gets saved) is a plain Heaviside; the autograd Function with its
        # surrogate gradient only exists in eager mode, where training happens. The branch is
        # resolved while scripting, so the saved graph does not contain it.
        if torch.jit.is_scripting():
            return (h - self.v_threshold >= 0).to(h.dtype)
        else:
            return _surrogate_spike(h - self.v_threshold, self.surrogate, self.surrogate_alpha)

    def _reset(self, h: torch.Tensor, spike: torch.Tensor) -> torch.Tensor:
        s = spike.detach()
        return (1.0 - s) * h + s * self.v_reset


class LIF(_SpikingNeuron):
    """Leaky integrate-and-fire, multi-step over the leading T axis."""

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float = 0.0,
                 decay_input: bool = True, surrogate: str = "sigmoid", alpha: float = 4.0):
        super().__init__(v_threshold, v_reset, surrogate, alpha)
        if not tau > 1.0:
            raise ValueError("tau must be > 1")
        self.tau = float(tau)
        self.decay_input = bool(decay_input)

    def _charge(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.decay_input:
            if self.v_reset == 0.0:
                return v + (x - v) / self.tau
            return v + (x - (v - self.v_reset)) / self.tau
        if self.v_reset == 0.0:
            return v * (1.0 - 1.0 / self.tau) + x
        return v - (v - self.v_reset) / self.tau + x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.full_like(x[0], self.v_reset)
        spikes = []
        for t in range(x.shape[0]):
            h = self._charge(v, x[t])
            s = self._fire(h)
            v = self._reset(h, s)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return (f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"decay_input={self.decay_input}")


class IF(_SpikingNeuron):
    """Integrate-and-fire (no leak), multi-step over the leading T axis."""

    def __init__(self, v_threshold: float = 1.0, v_reset: float = 0.0,
                 surrogate: str = "sigmoid", alpha: float = 4.0):
        super().__init__(v_threshold, v_reset, surrogate, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.full_like(x[0], self.v_reset)
        spikes = []
        for t in range(x.shape[0]):
            h = v + x[t]
            s = self._fire(h)
            v = self._reset(h, s)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return f"v_threshold={self.v_threshold}, v_reset={self.v_reset}"
