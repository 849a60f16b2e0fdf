#!/usr/bin/env bash
# Sets up a machine, builds spiked (release) and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release
cmake --build --preset release
exec bash scripts/main-job.sh build/release
