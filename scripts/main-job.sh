#!/usr/bin/env bash
# The main job, on an already built tree, run the way a user runs the
# product: spiked on its emulated board; spikectl checks the setup, deploys
# the trained spiking CNN (spiked compiles it with spk-compile in its own
# process), describes and measures it; the Python client classifies the
# whole digits test split and compares with PyTorch; spikectl undeploys;
# then a few of the Prometheus metrics.
# Usage: scripts/main-job.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: main-job.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
models=$build/fixtures/models
data=$build/fixtures/data/digits_test.bin
for f in "$build/daemon/spiked" "$build/cli/spikectl" "$build/compiler/driver/spk-compile" \
  "$models/spiking_cnn.pt" "$data"; do
  [ -e "$f" ] || { echo "main-job: $f is missing; build the tree first" >&2; exit 1; }
done

echo "== test models (python/gen_fixtures.py, PyTorch accuracy on the digits test split)"
for j in "$models"/*.json; do
  /usr/bin/python3 - "$j" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
acc = m.get("accuracy")
acc = "random weights" if acc is None else f"{100 * acc:.1f}%"
print(f"  {m['name']:<28} {m.get('param_count', 0):>10} params  {acc}")
PY
done

run=$(mktemp -d /tmp/spiked-main-job.XXXXXX)
socket=$run/spiked.sock
pid=
cleanup() {
  # Whatever failed, leave no daemon behind.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

echo
echo "== spiked (state in $run/state, log $run/spiked.log)"
"$build/daemon/spiked" --server.socket="$socket" --state.dir="$run/state" \
  --compile.command="$build/compiler/driver/spk-compile" \
  > "$run/spiked.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [ -S "$socket" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$run/spiked.log"; exit 1; }
  sleep 0.1
done
[ -S "$socket" ] || { echo "main-job: spiked made no socket in 10 s" >&2; cat "$run/spiked.log"; exit 1; }

spikectl() {
  echo
  echo "\$ spikectl $*"
  "$build/cli/spikectl" --socket="$socket" "$@"
}

spikectl doctor
spikectl deploy "$models/spiking_cnn.pt" --name digits --replace
spikectl describe digits

# The first digit of the test split, as the JSON array spikectl reads.
/usr/bin/python3 - "$data" > "$run/digit.json" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
rows, cols = struct.unpack_from("<II", b, 16)
print(json.dumps(list(struct.unpack_from(f"<{rows * cols}f", b, 24))))
PY
spikectl measure digits "$run/digit.json" -n 200 --warmup 10

echo
echo "== examples/quickstart.py: the whole digits test split through the Python client"
/usr/bin/python3 "$root/examples/quickstart.py" --socket "$socket" --deployment digits \
  --json "$models/spiking_cnn.json" --data "$data"

spikectl undeploy digits
spikectl ls

echo
echo "== Prometheus metrics (http://127.0.0.1:9477/metrics), a few lines"
/usr/bin/python3 - <<'PY' || echo "  (metrics endpoint not reachable: port 9477 taken?)"
import urllib.request
text = urllib.request.urlopen("http://127.0.0.1:9477/metrics", timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith(("spiked_up", "spiked_inference_requests_total", "spiked_board_power_watts",
                        "spiked_board_temperature_celsius", "spiked_cache_")):
        print("  " + line)
PY

kill -TERM "$pid"
wait "$pid"
pid=
echo
echo "spiked stopped cleanly; its log: $run/spiked.log"
