"""Writes hostile and unsupported .pt files for hostile_models_test.

Run by the test (never at build time, so python/ fixtures are untouched):
    make_hostile_models.py OUT_DIR
Writes into OUT_DIR:
  unsupported_ops.pt   a model with several ops the frontend does not support;
                       expected.json lists each with its source line
  huge_view.pt         a parameter whose size is 2^32 elements over a
                       one-element storage (stride 0)
  huge_declared.pt     a parameter whose pickled size was raised far past its
                       storage
  zip_bomb.pt          a real model plus a deflated entry of zeros expanding
                       about 1000x
"""
import inspect
import json
import os
import sys
import zipfile

import torch
from torch import nn


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = x.flatten(1)
        a = torch.sigmoid(x)
        b = torch.softmax(x, dim=1)
        c = torch.tanh(x)
        d = torch.exp(x)
        return self.fc(a + b + c + d)


class Small(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.w = nn.Parameter(weight, requires_grad=False)

    def forward(self, x):
        return torch.matmul(x.flatten(1), self.w)


def line_of(text):
    lines, first = inspect.getsourcelines(Unsupported.forward)
    for k, line in enumerate(lines):
        if text in line:
            return first + k
    raise ValueError(text)


def rewrite(src, dst, name, old, new):
    """Copies the zip `src` to `dst` with `old` replaced by `new` in entry `name`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith(name):
                assert data.count(old) == 1, (name, data)
                data = data.replace(old, new)
            zout.writestr(info.filename, data)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)

    path = os.path.join(out, "unsupported_ops.pt")
    torch.jit.save(torch.jit.script(Unsupported()), path)
    expected = {
        "file": os.path.basename(__file__),
        "ops": {
            "aten::sigmoid": line_of("torch.sigmoid"),
            "aten::softmax": line_of("torch.softmax"),
            "aten::tanh": line_of("torch.tanh"),
            "aten::exp": line_of("torch.exp"),
        },
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)

    view = torch.zeros(1).expand(1 << 16, 1 << 16)
    torch.jit.save(torch.jit.script(Small(view)), os.path.join(out, "huge_view.pt"))

    # Size (7, 13), stride (13, 1) pickle as MARK BININT1.. TUPLE; the new size
    # 4096 x 4096 is written with BININT.
    tmp = os.path.join(out, "small.pt")
    torch.jit.save(torch.jit.script(Small(torch.ones(7, 13))), tmp)
    big = b"J" + (4096).to_bytes(4, "little", signed=True)
    rewrite(tmp, os.path.join(out, "huge_declared.pt"), "data.pkl",
            b"(K\x07K\x0dt(K\x0dK\x01t", b"(" + big + big + b"t(K\x0dK\x01t")

    bomb = os.path.join(out, "zip_bomb.pt")
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_STORED) as zout:
        root = zin.infolist()[0].filename.split("/")[0]
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr(zipfile.ZipInfo(root + "/data/99"), bytes(256 << 20),
                      compress_type=zipfile.ZIP_DEFLATED)
    os.remove(tmp)


if __name__ == "__main__":
    main()
