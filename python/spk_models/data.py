"""The digits data set (shipped inside scikit-learn, so no download) and its binary export.

Binary file layout (all little-endian), read by C++ tests without any library:
  8 bytes  magic "SPKDIGIT"
  u32      version (1)
  u32      count
  u32      rows
  u32      cols
  f32      count * rows * cols pixels, row-major, image after image, scaled to 0..1
  i32      count labels (0..9)
"""

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import numpy as np

MAGIC = b"SPKDIGIT"
VERSION = 1
SPLIT_SEED = 0
TEST_SIZE = 0.2


@dataclass
class DigitsSplit:
    train_images: np.ndarray   # [n, 1, 8, 8] float32, 0..1
    train_labels: np.ndarray   # [n] int64
    test_images: np.ndarray
    test_labels: np.ndarray
    train_indices: np.ndarray  # positions in load_digits() order
    test_indices: np.ndarray
    n_samples: int

    def describe(self) -> dict:
        return {
            "source": "sklearn.datasets.load_digits",
            "method": "sklearn.model_selection.train_test_split(stratify=labels)",
            "seed": SPLIT_SEED,
            "test_size": TEST_SIZE,
            "stratified": True,
            "n_samples": self.n_samples,
            "n_train": int(len(self.train_indices)),
            "n_test": int(len(self.test_indices)),
            "test_indices": [int(i) for i in self.test_indices],
        }


def load_split() -> DigitsSplit:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixels are integers 0..16; dividing by 16 is exact in float32.
    images = (digits.images.astype(np.float32) / np.float32(16.0))[:, None, :, :]
    labels = digits.target.astype(np.int64)
    indices = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        indices, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=labels)
    return DigitsSplit(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
                       train_idx, test_idx, len(labels))


def write_digits_bin(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    count, _, rows, cols = images.shape
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<4I", VERSION, count, rows, cols))
        f.write(np.ascontiguousarray(images, dtype="<f4").tobytes())
        f.write(np.ascontiguousarray(labels, dtype="<i4").tobytes())


def read_digits_bin(path: Path):
    """Inverse of write_digits_bin; returns (images [n,1,rows,cols] float32, labels int64)."""
    raw = Path(path).read_bytes()
    if raw[:8] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    version, count, rows, cols = struct.unpack_from("<4I", raw, 8)
    if version != VERSION:
        raise ValueError(f"{path}: unsupported version {version}")
    offset = 8 + 16
    n_pix = count * rows * cols
    images = np.frombuffer(raw, dtype="<f4", count=n_pix, offset=offset)
    labels = np.frombuffer(raw, dtype="<i4", count=count, offset=offset + 4 * n_pix)
    if offset + 4 * n_pix + 4 * count != len(raw):
        raise ValueError(f"{path}: size does not match header")
    return images.reshape(count, 1, rows, cols).astype(np.float32), labels.astype(np.int64)


def probe_input(shape) -> np.ndarray:
    """A fixed pseudo-random image in [0, 1) that C++ can rebuild bit for bit:
    x[i] = ((i * 2654435761) mod 2^32 >> 8) / 2^24 over the flattened tensor."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    return ((h >> np.uint64(8)).astype(np.float32) / np.float32(16777216.0)).reshape(shape)


PROBES_MAGIC = b"SPKPROBE"
PROBES_VERSION = 1


def write_probes_bin(path: Path, layers: Dict[str, np.ndarray]) -> None:
    """Every neuron module's spikes on the first samples of the test split, for the per-layer
    agreement of compiled models: "SPKPROBE", u32 version, u32 samples, u32 layers, then per layer
    u32 name length, the UTF-8 module path, u32 ndim, ndim u32 dims of one sample ([T, ...]), and
    samples * prod(dims) u8 spikes (0 or 1), sample-major. All little-endian."""
    samples = {int(a.shape[0]) for a in layers.values()}
    if len(samples) > 1:
        raise ValueError(f"{path}: layers disagree on the sample count: {sorted(samples)}")
    count = samples.pop() if samples else 0
    with open(path, "wb") as f:
        f.write(PROBES_MAGIC)
        f.write(struct.pack("<3I", PROBES_VERSION, count, len(layers)))
        for name, spikes in layers.items():
            encoded = name.encode()
            dims = spikes.shape[1:]
            f.write(struct.pack("<I", len(encoded)) + encoded)
            f.write(struct.pack(f"<I{len(dims)}I", len(dims), *dims))
            f.write(np.ascontiguousarray(spikes, dtype=np.uint8).tobytes())
