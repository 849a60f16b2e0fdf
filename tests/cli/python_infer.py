"""Classifies digits with python/spiked_client.py and prints JSON, for the
spikectl test that checks the Python client agrees with the C++ one.

    python_infer.py SOCKET DEPLOYMENT DIGITS_BIN [--npy-dir=DIR] INDEX...

With --npy-dir each digit is also saved there by NumPy itself (np.save), as
digit<INDEX>.npy: float32 [1, 1, rows, cols] for even indices, float64
[rows, cols] for odd ones, so spikectl's reader meets files it did not write.
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from spiked_client import Client  # noqa: E402


def main():
    socket_path, deployment, data = sys.argv[1:4]
    indices = sys.argv[4:]
    npy_dir = None
    if indices and indices[0].startswith("--npy-dir="):
        npy_dir = indices.pop(0)[len("--npy-dir="):]
    with open(data, "rb") as f:
        blob = f.read()
    _, _, count, rows, cols = struct.unpack_from("<8sIIII", blob, 0)
    n = rows * cols
    results = []
    with Client(socket_path) as c:
        for index in map(int, indices):
            image = list(struct.unpack_from(f"<{n}f", blob, 24 + 4 * n * index))
            response, outputs = c.infer(deployment, image, [1, 1, rows, cols])
            _, scores = next(iter(outputs.values()))
            prediction = max(range(len(scores)), key=scores.__getitem__)
            result = {"index": index, "prediction": prediction, "scores": scores,
                      "latency_seconds": response["latency_seconds"]}
            if npy_dir is not None:
                import numpy as np
                path = os.path.join(npy_dir, f"digit{index}.npy")
                if index % 2 == 0:
                    np.save(path, np.array(image, dtype=np.float32).reshape(1, 1, rows, cols))
                else:
                    np.save(path, np.array(image, dtype=np.float64).reshape(rows, cols))
                result["npy"] = path
            results.append(result)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
