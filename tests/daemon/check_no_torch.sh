#!/usr/bin/env bash
# check_no_torch.sh BINARY: fails when BINARY loads LibTorch (libtorch*,
# libc10*), directly or through another library. The daemon runs the compiler
# as a separate process so that a hostile model can only crash that process,
# and so that spiked stays small; linking LibTorch would undo both.
set -euo pipefail
binary=$1
libs=$(ldd "$binary")
if grep -Ei 'libtorch|libc10' <<<"$libs"; then
  echo "$binary loads LibTorch; only spk-compile may"
  exit 1
fi
echo "$binary: $(wc -l <<<"$libs") libraries, none of LibTorch"
