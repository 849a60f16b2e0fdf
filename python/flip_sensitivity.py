"""How much a trained fixture model's own later layers and predictions move when a small fraction
of one layer's spikes flips, in PyTorch, with no chip involved.

The chip reproduces PyTorch's spikes up to rare flips (threshold ties, weight rounding). This
measures how far such flips carry in the model itself, which bounds what the end-to-end agreement
test can expect of any bit-accurate hardware. Run with Debian's python:

    /usr/bin/python3 python/flip_sensitivity.py build/ci/fixtures sdt_digits patch_embed.rpe_lif
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_fixtures import TRAINED  # noqa: E402
from spk_models.data import read_digits_bin  # noqa: E402
from spk_models.neurons import LIF  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixtures", type=Path, help="the build's fixtures directory")
    ap.add_argument("model", choices=[s.name for s in TRAINED])
    ap.add_argument("layer", help="module path of the LIF layer whose spikes flip")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.001, 0.002, 0.004])
    ap.add_argument("--samples", type=int, default=360)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    spec = next(s for s in TRAINED if s.name == args.model)
    model = spec.build()
    scripted = torch.jit.load(str(args.fixtures / "models" / f"{args.model}.pt"))
    model.load_state_dict(scripted.state_dict())
    model.eval()
    images, _ = read_digits_bin(args.fixtures / "data" / "digits_test.bin")
    x = torch.tensor(images[: args.samples]).float().reshape(-1, 1, 8, 8)

    modules = dict(model.named_modules())
    if not isinstance(modules.get(args.layer), LIF):
        print(f"{args.layer!r} is not a LIF module of {args.model}", file=sys.stderr)
        return 2
    rate = {"p": 0.0}

    def flip(_module, _inputs, out):
        if rate["p"] == 0:
            return out
        mask = (torch.rand_like(out) < rate["p"]).float()
        return out * (1 - mask) + (1 - out) * mask

    recorded = {}

    def record(name):
        def hook(_module, _inputs, out):
            recorded[name] = out.detach().clone()
        return hook

    modules[args.layer].register_forward_hook(flip)
    lifs = [n for n, m in model.named_modules() if isinstance(m, LIF)]
    for name in lifs:
        modules[name].register_forward_hook(record(name))
    with torch.no_grad():
        base_out = model(x)
        base = dict(recorded)
        print(f"{args.model}, {args.samples} samples, flipping spikes of {args.layer}")
        print(f"  {'layer':32} " + " ".join(f"{100 * r:7.2f}%" for r in args.rates))
        rows = {name: [] for name in lifs}
        predictions = []
        for r in args.rates:
            rate["p"] = r
            torch.manual_seed(args.seed)
            out = model(x)
            for name in lifs:
                rows[name].append(100 * (recorded[name] == base[name]).float().mean().item())
            predictions.append(100 * (out.argmax(1) == base_out.argmax(1)).float().mean().item())
        for name in lifs:
            print(f"  {name:32} " + " ".join(f"{v:7.2f}%" for v in rows[name]))
        print(f"  {'predictions agree':32} " + " ".join(f"{v:7.2f}%" for v in predictions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
