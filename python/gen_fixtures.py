#!/usr/bin/python3
"""Trains and saves the test models and data that the C++ tests load.

    /usr/bin/python3 gen_fixtures.py --out DIR

Writes DIR/models/<name>.pt (TorchScript), <name>.json (what PyTorch measured) and, for trained
models and Spikformer-4-384, <name>.probes.bin (every neuron module's spikes on the first test
samples, or on the random model's probe input), the digits split as DIR/data/digits_{train,test}.bin,
and DIR/stamp last. See README.md next to this file.
The run is deterministic: the same torch build on the same machine writes the same files.
"""

import os
import sys

# TorchScript writes a module's constants in set order, which follows string hashing: fix the
# hash seed (it must be set before the interpreter starts) so that .pt files come out the same.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

# Keep the source tree free of __pycache__ when the build runs this.
sys.dont_write_bytecode = True

import argparse  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List, Sequence, Tuple  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from spk_models import (IF, LIF, SpikeDrivenTransformer, Spikformer, SpikingCNN,  # noqa: E402
                        SpikingMLP)
from spk_models.data import (DigitsSplit, load_split, probe_input,  # noqa: E402
                             write_digits_bin, write_probes_bin)

FORMAT_VERSION = 1
SEED = 0
# One thread: results do not depend on how work is split, and OpenMP threads that spin while a
# parallel build also runs on the same two cores make every step many times slower.
THREADS = 1


@dataclass
class TrainedSpec:
    name: str
    kind: str
    description: str
    build: Callable[[], nn.Module]
    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 1e-4


@dataclass
class RandomSpec:
    name: str
    kind: str
    description: str
    build: Callable[[], nn.Module]
    input_shape: Tuple[int, ...]
    # BN statistics come from one train-mode pass over random images; the convolutions and the
    # per-token layers see the same distribution at a smaller size, which keeps this cheap.
    calibration_shape: Tuple[int, ...]
    notes: List[str] = field(default_factory=list)
    # Write <name>.probes.bin: every neuron module's spikes on the probe input (one sample).
    probes: bool = False


TRAINED: List[TrainedSpec] = [
    TrainedSpec("spiking_mlp", "spiking_mlp",
                "64 -> Linear 128 -> LIF -> Linear 10, mean over T",
                lambda: SpikingMLP(64, 128, 10, T=4), epochs=40, lr=3e-3),
    TrainedSpec("spiking_cnn", "spiking_cnn",
                "Conv3x3 16 -> BN -> LIF -> MaxPool2 -> Conv3x3 32 -> BN -> LIF -> Linear 10",
                lambda: SpikingCNN(1, 8, 16, 10, T=4), epochs=15, lr=3e-3),
    TrainedSpec("spikformer_digits", "spikformer",
                "Spikformer-2-64, 4 heads, SPS pooling once after stage 3 (8x8 -> 16 tokens), T=4",
                lambda: Spikformer(1, 64, depth=2, num_heads=4, pool_stages=(2,), T=4),
                epochs=6, lr=3e-3),
    TrainedSpec("sdt_digits", "spike_driven_transformer",
                "Spike-driven Transformer-2-64 with SDSA, SPS pooling once after stage 3 (16 tokens), T=4",
                lambda: SpikeDrivenTransformer(1, 64, depth=2, pool_stages=(2,), T=4),
                epochs=6, lr=3e-3),
]

RANDOM: List[RandomSpec] = [
    RandomSpec("spikformer_4_384_cifar", "spikformer",
               "Spikformer-4-384 at CIFAR size (32x32x3, pools in SPS stages 3-4: 64 tokens)",
               lambda: Spikformer(3, 384, depth=4, num_heads=12, pool_stages=(2, 3),
                                  num_classes=10, T=4),
               input_shape=(1, 3, 32, 32), calibration_shape=(4, 3, 32, 32), probes=True),
    RandomSpec("spikformer_8_384_imagenet", "spikformer",
               "Spikformer-8-384 at ImageNet size (224x224x3, pools in all SPS stages: "
               "196 tokens)",
               lambda: Spikformer(3, 384, depth=8, num_heads=12, pool_stages=(0, 1, 2, 3),
                                  num_classes=1000, T=4),
               input_shape=(1, 3, 224, 224), calibration_shape=(4, 3, 64, 64),
               notes=["1000 classes as for ImageNet, so the parameter count is the published "
                      "16.81 M"]),
]


def log(msg: str) -> None:
    print(f"[gen_fixtures] {msg}", flush=True)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def neuron_counts(module: nn.Module) -> Dict[str, int]:
    return {"LIF": sum(isinstance(m, LIF) for m in module.modules()),
            "IF": sum(isinstance(m, IF) for m in module.modules())}


def run_with_firing_rates(model: nn.Module,
                          x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, float]]:
    """model(x) and the mean spike rate of every neuron module on it (eager)."""
    rates: Dict[str, float] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (LIF, IF)):
            def hook(_m, _inp, out, name=name):
                rates[name] = round(float(out.mean()), 6)
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        out = model(x)
    for h in hooks:
        h.remove()
    return out, rates


# Test samples whose every neuron module's spikes are written for the per-layer agreement.
PROBE_SAMPLES = 24


def neuron_spikes(model: nn.Module, x: torch.Tensor) -> Dict[str, np.ndarray]:
    """Every LIF/IF module's output on x (eager, which equals the scripted model), by module path,
    as [samples, T, ...] uint8."""
    spikes: Dict[str, np.ndarray] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (LIF, IF)):
            def hook(_m, _inp, out, name=name):
                # [T, B, ...] -> [B, T, ...]
                spikes[name] = out.transpose(0, 1).to(torch.uint8).numpy()
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return spikes


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def to_json(obj, indent: int = 0) -> str:
    """json.dumps with indented objects but lists on one line (predictions are long)."""
    if isinstance(obj, dict) and obj:
        pad = " " * (indent + 2)
        items = [f"{pad}{json.dumps(k)}: {to_json(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return json.dumps(obj)


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(to_json(obj) + "\n")
    os.replace(tmp, path)


def save_scripted(model: nn.Module, path: Path, input_shape) -> None:
    """Saves the scripted model with extra/spiked.json, which tells the compiler the input shape
    and timesteps so `spikectl deploy model.pt` needs no flags."""
    scripted = torch.jit.script(model)
    tmp = path.with_suffix(".tmp")
    meta = {"input_shape": [int(d) for d in input_shape], "timesteps": int(model.T),
            "input_range": [0.0, 1.0]}
    torch.jit.save(scripted, str(tmp), _extra_files={"spiked.json": json.dumps(meta)})
    os.replace(tmp, path)


@contextlib.contextmanager
def linear_as_conv():
    """During training only, compute F.linear as a batch of 1x1 convolutions.

    Debian's torch links the reference BLAS, so addmm is several times slower than oneDNN's
    convolution on the same numbers. Saved models, accuracies, predictions and probe outputs all
    come from the real nn.Linear; only training and BN calibration take this path.
    """
    original = F.linear

    def conv_linear(x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])[:, :, None, None]
        y = F.conv2d(rows, weight[:, :, None, None], bias).flatten(1)
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    F.linear = conv_linear
    try:
        yield
    finally:
        F.linear = original


def train(spec: TrainedSpec, model: nn.Module, split: DigitsSplit,
          gen: torch.Generator) -> float:
    x = torch.from_numpy(split.train_images)
    y = torch.from_numpy(split.train_labels)
    n = len(y)
    steps = spec.epochs * ((n + spec.batch_size - 1) // spec.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=steps,
                                                pct_start=0.15)
    loss_sum = 0.0
    for _ in range(spec.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum, batches = 0.0, 0
        for i in range(0, n, spec.batch_size):
            idx = perm[i:i + spec.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss)
            batches += 1
        loss_sum /= batches
    return loss_sum


def make_trained(spec: TrainedSpec, split: DigitsSplit, models_dir: Path) -> dict:
    gen = seed_everything(SEED)
    model = spec.build()
    t0 = time.perf_counter()
    with linear_as_conv():
        final_loss = train(spec, model, split, gen)
    train_seconds = time.perf_counter() - t0
    model.eval()

    pt_path = models_dir / f"{spec.name}.pt"
    save_scripted(model, pt_path, [1] + list(split.test_images.shape[1:]))

    # Accuracy and predictions come from the saved file, run the way a C++ loader runs it:
    # the whole test split as one batch.
    x_test = torch.from_numpy(split.test_images)
    loaded = torch.jit.load(str(pt_path))
    loaded.eval()
    with torch.no_grad():
        scores = loaded(x_test)
    eager_scores, rates = run_with_firing_rates(model, x_test)
    write_probes_bin(models_dir / f"{spec.name}.probes.bin",
                     neuron_spikes(model, x_test[:PROBE_SAMPLES]))
    preds = scores.argmax(1)
    accuracy = float((preds == torch.from_numpy(split.test_labels)).float().mean())

    meta = {
        "format_version": FORMAT_VERSION,
        "name": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "file": pt_path.name,
        "sha256": sha256(pt_path),
        "torch_version": torch.__version__,
        "trained": True,
        "T": model.T,
        "input_shape": [1] + list(split.test_images.shape[1:]),
        "input_range": [0.0, 1.0],
        "output_shape": [1, int(scores.shape[1])],
        "num_classes": int(scores.shape[1]),
        "param_count": param_count(model),
        "neurons": neuron_counts(model),
        "dataset": "digits",
        "accuracy": round(accuracy, 6),
        "predictions": [int(p) for p in preds],
        "scripted_equals_eager": bool(torch.equal(scores, eager_scores)),
        "firing_rates_input": "the digits test split",
        "firing_rates": rates,
        "split": split.describe(),
        "training": {
            "epochs": spec.epochs,
            "batch_size": spec.batch_size,
            "optimizer": "AdamW",
            "lr_max": spec.lr,
            "schedule": "one-cycle",
            "weight_decay": spec.weight_decay,
            "loss": "cross-entropy on the T-averaged scores",
            "final_train_loss": round(final_loss, 6),
            "seed": SEED,
            "threads": THREADS,
            "seconds": round(train_seconds, 2),
        },
    }
    write_json(models_dir / f"{spec.name}.json", meta)
    log(f"{spec.name}: {param_count(model)} params, {spec.epochs} epochs in "
        f"{train_seconds:.1f} s, loss {final_loss:.4f}, test accuracy {100 * accuracy:.2f}%")
    return meta


def calibrate_batchnorm(model: nn.Module, shape: Sequence[int], gen: torch.Generator) -> None:
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None          # cumulative average: one pass sets the stats exactly
    model.train()
    with torch.no_grad():
        model(torch.rand(*shape, generator=gen))
    for bn in bns:
        bn.momentum = 0.1
    model.eval()


def make_random(spec: RandomSpec, models_dir: Path) -> dict:
    gen = seed_everything(SEED)
    model = spec.build()
    t0 = time.perf_counter()
    with linear_as_conv():
        calibrate_batchnorm(model, spec.calibration_shape, gen)
        _, rates = run_with_firing_rates(
            model, torch.rand(*spec.calibration_shape, generator=gen))

    pt_path = models_dir / f"{spec.name}.pt"
    save_scripted(model, pt_path, spec.input_shape)
    loaded = torch.jit.load(str(pt_path))
    loaded.eval()
    x_probe = torch.from_numpy(probe_input(spec.input_shape))
    with torch.no_grad():
        probe_out = loaded(x_probe)
    if spec.probes:
        write_probes_bin(models_dir / f"{spec.name}.probes.bin", neuron_spikes(model, x_probe))
    seconds = time.perf_counter() - t0

    meta = {
        "format_version": FORMAT_VERSION,
        "name": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "file": pt_path.name,
        "sha256": sha256(pt_path),
        "torch_version": torch.__version__,
        "trained": False,
        "T": model.T,
        "input_shape": list(spec.input_shape),
        "input_range": [0.0, 1.0],
        "output_shape": list(probe_out.shape),
        "num_classes": int(probe_out.shape[1]),
        "param_count": param_count(model),
        "neurons": neuron_counts(model),
        "weights": "PyTorch default init, seed 0; BatchNorm running stats from one train-mode "
                   "pass over uniform random images of calibration_shape",
        "calibration_shape": list(spec.calibration_shape),
        "firing_rates_input": "uniform random images of calibration_shape",
        "probe": {
            "input": "x[i] = ((i * 2654435761) mod 2^32 >> 8) / 2^24 over the flattened "
                     "input_shape tensor, float32",
            "output": [round(float(v), 6) for v in probe_out.flatten()[:16]],
            "output_argmax": int(probe_out.argmax(1)[0]),
        },
        "notes": spec.notes,
        "seconds": round(seconds, 2),
        "firing_rates": rates,
    }
    write_json(models_dir / f"{spec.name}.json", meta)
    log(f"{spec.name}: {param_count(model)} params, random weights, output "
        f"{list(probe_out.shape)}, {seconds:.1f} s")
    return meta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--only", nargs="*", default=None,
                        help="make only these models (for development; no stamp is written)")
    args = parser.parse_args()

    t_start = time.perf_counter()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)

    out: Path = args.out
    models_dir, data_dir = out / "models", out / "data"
    models_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp = out / "stamp"
    # A run that dies half way must not leave an old stamp next to new files.
    stamp.unlink(missing_ok=True)

    split = load_split()
    write_digits_bin(data_dir / "digits_train.bin", split.train_images, split.train_labels)
    write_digits_bin(data_dir / "digits_test.bin", split.test_images, split.test_labels)
    log(f"digits: {split.describe()['n_train']} train, {split.describe()['n_test']} test")

    made = []
    for spec in TRAINED:
        if args.only is None or spec.name in args.only:
            made.append(make_trained(spec, split, models_dir))
    for rspec in RANDOM:
        if args.only is None or rspec.name in args.only:
            made.append(make_random(rspec, models_dir))

    elapsed = time.perf_counter() - t_start
    log(f"done in {elapsed:.1f} s")
    if args.only is not None:
        return 0
    lines = [f"# spiked test fixtures, format {FORMAT_VERSION}, torch {torch.__version__}, "
             f"made in {elapsed:.1f} s"]
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p != stamp):
        lines.append(f"{sha256(path)}  {path.relative_to(out)}")
    stamp.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
