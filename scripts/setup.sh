#!/usr/bin/env bash
# Installs the Debian packages spiked needs to build, test and run.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev
  # libraries
  libboost-dev libusb-1.0-0-dev libtorch-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libsqlite3-dev sqlite3 libsystemd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev umockdev libumockdev-dev util-linux
  # systemd-analyze, which checks the units (systemd/verify_units.sh)
  systemd
  # test models and data: Debian's torch for /usr/bin/python3, sklearn's digits set
  python3 python3-torch python3-sklearn python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
