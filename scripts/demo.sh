#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds telering and runs the main job: telering-reader
# with the demo bot (a simulated futures scanner with injected faults) for a minute.
# DEMO_SECONDS=120 scripts/demo.sh runs longer (the fault schedule stretches with it);
# DEMO_HTTP=127.0.0.1:9464 serves the live dashboard there while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build="${BUILD_DIR:-build-release}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTELERING_BUILD_TESTS=OFF -DTELERING_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target telering-reader telering-demo-bot
segment="telering-demo-$$"
reader_pid=""
cleanup() {
  [ -n "$reader_pid" ] && kill -TERM "$reader_pid" 2>/dev/null && wait "$reader_pid" 2>/dev/null
  rm -f "/dev/shm/$segment"
}
trap cleanup EXIT
echo "== telering-reader on segment '$segment' (config deploy/demo/reader.toml), demo bot for ${DEMO_SECONDS:-60} s"
# DEMO_HTTP=127.0.0.1:9464 scripts/demo.sh also serves the dashboard: open http://127.0.0.1:9464/
http_args=()
if [ -n "${DEMO_HTTP:-}" ]; then
  http_args=(--http "$DEMO_HTTP")
  echo "== dashboard: http://$DEMO_HTTP/"
fi
"$build/reader/telering-reader" --segment "$segment" --config deploy/demo/reader.toml "${http_args[@]}" &
reader_pid=$!
# Two bots share the host's limits (one rate-limit bucket, one retry budget) and a host-wide
# market_scanner breaker with a quorum of 2: the first bot's connection errors (at 20 s) open
# only its own breaker; when the second one's start (at 23 s) the host-wide breaker opens for
# both, and its half-open probes are 2 permits for the whole host.
"$build/writer/telering-demo-bot" --segment "$segment" --bot kucoin-futures-2 --seed 7 --duration "${DEMO_SECONDS:-60}" \
  --connection-errors-at 23 --quiet &
second_bot=$!
"$build/writer/telering-demo-bot" --segment "$segment" --duration "${DEMO_SECONDS:-60}" --quiet
wait "$second_bot" || true
echo "== stopping the reader (SIGTERM): it drains what is left and prints a final report"
kill -TERM "$reader_pid"
wait "$reader_pid" || true
reader_pid=""
