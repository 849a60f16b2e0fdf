"""The quick start: talk to a running spiked, deploy a model, classify digits.

    python3 examples/quickstart.py [--socket PATH] (--model MODEL.pt | --deployment NAME) \
        --data digits_test.bin [--json MODEL.json] [--count N]

Prints the daemon's version and boards, deploys the model (spiked compiles it in a separate
process) or uses the deployment NAME that is already there (`spikectl deploy`), runs N
inferences (default: the whole split) from the digits test split and reports accuracy,
agreement with PyTorch's predictions (from the fixture JSON), latency and energy per inference.
Exit codes: 0 done, 1 the daemon refused something, 3 spiked is unreachable (the error and
a hint are printed).
"""

import argparse
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from spiked_client import Client, SpikedError  # noqa: E402


def read_digits(path):
    with open(path, "rb") as f:
        blob = f.read()
    magic, version, count, rows, cols = struct.unpack_from("<8sIIII", blob, 0)
    if magic != b"SPKDIGIT" or version != 1 or len(blob) != 24 + 4 * count * (rows * cols + 1):
        raise ValueError(f"{path}: not a digits file")
    n = rows * cols
    pixels = struct.unpack_from(f"<{count * n}f", blob, 24)
    labels = struct.unpack_from(f"<{count}i", blob, 24 + 4 * count * n)
    return [list(pixels[i * n:(i + 1) * n]) for i in range(count)], list(labels), [1, 1, rows, cols]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", help="default: the search of docs/protocol.md")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--model")
    which.add_argument("--deployment")
    ap.add_argument("--data", required=True)
    ap.add_argument("--json")
    ap.add_argument("--count", type=int, help="samples to classify (default: all)")
    args = ap.parse_args()

    images, labels, shape = read_digits(args.data)
    torch_predictions = None
    if args.json:
        with open(args.json) as f:
            torch_predictions = json.load(f).get("predictions")

    try:
        with Client(args.socket, timeout=600) as c:
            version = c.call("version")
            print(f"spiked {version['server']}, protocol {version['protocol']}")
            for b in c.call("boards")["boards"]:
                print(f"  board {b['board']}: {b['board_profile']} ({b['chip_profile']}), "
                      f"{b['cores_free']}/{b['cores_total']} cores free")
            if args.deployment:
                d = c.call("deployments.describe", deployment=args.deployment)
                print(f"using deployment '{d['deployment']}' on {d['board']}: {d.get('cores')} cores")
            else:
                print(f"deploying {os.path.basename(args.model)} ...")
                d = c.call("deploy", model={"path": os.path.abspath(args.model)}, replace=True)
                cores = d.get("partition", {}).get("cores", [])
                print(f"  deployment '{d['deployment']}' on {d['board']}: {len(cores)} cores, "
                      f"cache {d.get('cache')}, compile {d.get('compile_seconds', 0):.2f} s")

            count = len(images) if args.count is None else min(args.count, len(images))
            correct = agree = 0
            latency = energy = 0.0
            for i in range(count):
                response, outputs = c.infer(d["deployment"], images[i], shape)
                _, scores = next(iter(outputs.values()))
                predicted = max(range(len(scores)), key=scores.__getitem__)
                correct += predicted == labels[i]
                if torch_predictions is not None:
                    agree += predicted == torch_predictions[i]
                latency += response["latency_seconds"]
                energy += response["energy_joules"]["total"]
            print(f"  {count} inferences: accuracy {100.0 * correct / count:.1f}%", end="")
            if torch_predictions is not None:
                print(f", agreement with PyTorch {100.0 * agree / count:.1f}%", end="")
            print(f", mean latency {1e3 * latency / count:.3f} ms, "
                  f"mean energy {1e6 * energy / count:.3f} uJ per inference")
            health = c.call("health")
            print(f"  health: live={health['live']} ready={health['ready']}")
    except SpikedError as e:
        print(f"quickstart.py: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 3 if e.code == "UNAVAILABLE" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
