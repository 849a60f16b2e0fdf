#!/usr/bin/env bash
# The main job, on an already built tree: spiked on its emulated board, a
# trained spiking CNN deployed (compiled by spk-compile in its own process)
# and serving digit classifications over the local socket.
# Usage: scripts/main-job.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: main-job.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
models=$build/fixtures/models

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

run=$(mktemp -d /tmp/spiked-quickstart.XXXXXX)
socket=$run/spiked.sock
echo
echo "== spiked (state in $run/state)"
"$build/daemon/spiked" --server.socket="$socket" --state.dir="$run/state" \
  --compile.command="$build/compiler/driver/spk-compile" \
  > "$run/spiked.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -S "$socket" ] && break
  kill -0 $pid 2>/dev/null || { cat "$run/spiked.log"; exit 1; }
  sleep 0.1
done

/usr/bin/python3 "$root/examples/quickstart.py" --socket "$socket" \
  --model "$models/spiking_cnn.pt" --json "$models/spiking_cnn.json" \
  --data "$build/fixtures/data/digits_test.bin" --count 360

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

kill -TERM $pid
wait $pid
trap - EXIT
echo "spiked stopped cleanly; its log: $run/spiked.log"
