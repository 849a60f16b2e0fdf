#!/usr/bin/env bash
# Sets up a machine, builds spiked with warnings as errors, and runs every
# test (unit, integration, end to end, format check).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset ci
cmake --build --preset ci
ctest --preset ci -j "$(nproc)"
