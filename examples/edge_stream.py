"""An edge application in Python: streams N-MNIST-like spike events to a deployed model
through a streaming session and reports accuracy and per-timestep latency.

    python3 examples/edge_stream.py --socket PATH --deployment NAME --data digits_test.bin \\
        [--count N] [--timesteps T] [--json]

The events are the ones examples/edge_stream.cc makes (the same hash of sample, timestep
and pixel against the pixel's intensity), so both print the same predictions. Each digit
gets a fresh session; the prediction is the class with the highest score summed over the
timesteps' outputs. Uses only the standard library and python/spiked_client.py.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from spiked_client import Client, SpikedError  # noqa: E402

MASK = 0xFFFFFFFF


def fires(sample, t, pixel, intensity):
    h = (sample * 1000003 + t * 7919 + pixel * 2654435761) & MASK
    h ^= h >> 13
    h = (h * 0x5BD1E995) & MASK
    h ^= h >> 15
    return (h >> 8) < intensity * 16777216.0


def read_digits(path):
    with open(path, "rb") as f:
        blob = f.read()
    magic, _, count, rows, cols = struct.unpack_from("<8sIIII", blob, 0)
    n = rows * cols
    if magic != b"SPKDIGIT" or len(blob) != 24 + 4 * count * (n + 1):
        raise ValueError(f"{path}: not a digits file")
    pixels = struct.unpack_from(f"<{count * n}f", blob, 24)
    labels = struct.unpack_from(f"<{count}i", blob, 24 + 4 * count * n)
    return [pixels[i * n:(i + 1) * n] for i in range(count)], labels, rows, cols


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(v)))
    return v[min(len(v), rank) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket")
    ap.add_argument("--deployment", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--timesteps", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    images, labels, rows, cols = read_digits(args.data)
    count = min(args.count, len(images))
    predictions, latency, correct = [], [], 0
    try:
        with Client(args.socket, name="edge_stream.py") as c:
            timesteps = args.timesteps or c.call("deployments.describe",
                                                 deployment=args.deployment).get("timesteps") or 4
            for sample in range(count):
                with c.open_session(args.deployment) as s:
                    inputs = s.info.get("inputs") or [{}]
                    shape = [1] + list(inputs[0].get("shape", [rows, cols]))
                    scores = None

                    def add(chunks):
                        nonlocal scores
                        for _, _, _, (out_shape, values) in chunks:
                            classes = out_shape[-1]
                            if scores is None:
                                scores = [0.0] * classes
                            for k, v in enumerate(values):
                                scores[k % classes] += v

                    image = images[sample]
                    for t in range(timesteps):
                        frame = [1.0 if fires(sample, t, p, image[p]) else 0.0
                                 for p in range(rows * cols)]
                        start = time.monotonic()
                        s.push(frame, shape)
                        s.wait_consumed()
                        latency.append(time.monotonic() - start)
                        add(s.arrived())
                    s.close()
                    add(s.arrived())
                predicted = -1 if scores is None else max(range(len(scores)), key=scores.__getitem__)
                predictions.append(predicted)
                correct += predicted == labels[sample]
    except SpikedError as e:
        print(f"edge_stream.py: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 3 if e.code == "UNAVAILABLE" else 1
    accuracy = correct / count if count else 0.0
    if args.json:
        print(json.dumps({"count": count, "timesteps": timesteps, "accuracy": accuracy,
                          "predictions": predictions,
                          "latency_per_timestep_seconds": {"p50": percentile(latency, 50),
                                                           "p99": percentile(latency, 99)}}))
    else:
        print(f"{count} digits streamed as events over {timesteps} timesteps each")
        print(f"accuracy {100 * accuracy:.1f}%, latency per timestep "
              f"p50 {1e3 * percentile(latency, 50):.3f} ms, p99 {1e3 * percentile(latency, 99):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
