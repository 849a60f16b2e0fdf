"""How far a random fixture model's spikes move in PyTorch when every weight gets noise the size of
the chip's 8-bit rounding, with no chip involved.

The end-to-end test holds the chip's spikes to PyTorch's layer by layer. An untrained network
amplifies any rounding, so this gives the baseline that test can expect: per neuron layer, the
share of PyTorch's spikes that the perturbed model still fires. Run with Debian's python:

    /usr/bin/python3 python/weight_noise_sensitivity.py spikformer_4_384_cifar --noise 0.005
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_fixtures import (RANDOM, SEED, calibrate_batchnorm, linear_as_conv,  # noqa: E402
                          neuron_spikes, probe_input, seed_everything)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=[s.name for s in RANDOM])
    ap.add_argument("--noise", type=float, default=0.005,
                    help="noise standard deviation as a fraction of each layer's weight RMS")
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args()

    spec = next(s for s in RANDOM if s.name == args.model)
    # The same model gen_fixtures saved: same seed, same calibration pass.
    gen = seed_everything(SEED)
    model = spec.build()
    with linear_as_conv():
        calibrate_batchnorm(model, spec.calibration_shape, gen)
    model.eval()
    x = torch.from_numpy(probe_input(spec.input_shape))
    clean = neuron_spikes(model, x)

    torch.manual_seed(args.seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
                rms = m.weight.pow(2).mean().sqrt()
                m.weight.add_(torch.randn_like(m.weight) * args.noise * rms)
    noisy = neuron_spikes(model, x)

    print(f"{args.model}, weights + {100 * args.noise:g} % RMS noise, on the probe input")
    print(f"  {'layer':32s} {'rate':>7s} {'noisy':>7s} {'kept':>7s}")
    for name, spikes in clean.items():
        a, b = spikes.astype(bool), noisy[name].astype(bool)
        kept = (a & b).sum() / max(int(a.sum()), 1)
        print(f"  {name:32s} {100 * a.mean():6.2f}% {100 * b.mean():6.2f}% {100 * kept:6.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
