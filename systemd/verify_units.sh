#!/usr/bin/env bash
# verify_units.sh SERVICE SOCKET SPIKED WORKDIR: runs `systemd-analyze verify`
# on the units, with ExecStart pointed at SPIKED (systemd-analyze checks that
# it exists). Exits 77, skipped, where systemd-analyze is not installed.
set -euo pipefail
service=$1 socket=$2 binary=$3 work=$4
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found (Debian package systemd); skipping"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
sed "s|^ExecStart=.*|ExecStart=$binary|" "$service" >"$work/spiked.service"
cp "$socket" "$work/spiked.socket"
# verify exits 0 on some problems it only prints: any output is a failure.
out=$(systemd-analyze verify "$work/spiked.service" "$work/spiked.socket" 2>&1) || {
  echo "$out"
  exit 1
}
if [ -n "$out" ]; then
  echo "$out"
  exit 1
fi
echo "systemd units verified"
