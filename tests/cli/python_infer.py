"""Classifies digits with python/spiked_client.py and prints JSON, for the
spikectl test that checks the Python client agrees with the C++ one.

    python_infer.py SOCKET DEPLOYMENT DIGITS_BIN INDEX...
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from spiked_client import Client  # noqa: E402


def main():
    socket_path, deployment, data = sys.argv[1:4]
    with open(data, "rb") as f:
        blob = f.read()
    _, _, count, rows, cols = struct.unpack_from("<8sIIII", blob, 0)
    n = rows * cols
    results = []
    with Client(socket_path) as c:
        for index in map(int, sys.argv[4:]):
            image = list(struct.unpack_from(f"<{n}f", blob, 24 + 4 * n * index))
            response, outputs = c.infer(deployment, image, [1, 1, rows, cols])
            _, scores = next(iter(outputs.values()))
            prediction = max(range(len(scores)), key=scores.__getitem__)
            results.append({"index": index, "prediction": prediction, "scores": scores,
                            "latency_seconds": response["latency_seconds"]})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
