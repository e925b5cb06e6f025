#!/usr/bin/env bash
# `promtool check metrics` on a real scrape of a segment whose names hold arbitrary bytes
# (issue 12 item 2: one name clipped mid-character made the whole page unparseable).
#
#   promtool_scrape.sh READER HOSTILE_WRITER [SEED]
#
# Starts telering-reader (--http on a loopback port it picks) on a fresh segment, runs
# HOSTILE_WRITER (tests/helpers/hostile_names_main.cpp) against it, waits until the reader
# has drained its records, scrapes /metrics and checks it with promtool. Needs promtool:
# installs Debian's `prometheus` package when missing and running as root (the same helper
# as the other integration scripts); otherwise exits 77 (SKIP) saying why. Bounded: 30 s.
set -euo pipefail

# shellcheck source=support/integration.sh
. "$(dirname "$0")/support/integration.sh"

reader=${1:?usage: $0 READER HOSTILE_WRITER [SEED]}
writer=${2:?usage: $0 READER HOSTILE_WRITER [SEED]}
seed=${3:-${TELERING_TEST_SEED:-$RANDOM}}
have_promtool() { command -v promtool >/dev/null; }
ensure_debian_package prometheus have_promtool
command -v curl >/dev/null || skip "curl is not installed"
echo "seed $seed (TELERING_TEST_SEED=$seed replays)"

tmp=$(mktemp -d /tmp/telering-promtool.XXXXXX)
segment="telering-promtool-$$"
reader_pid=""
cleanup() {
  local rc=$?
  [ -n "$reader_pid" ] && kill "$reader_pid" 2>/dev/null && wait "$reader_pid" 2>/dev/null
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ]; then echo "--- reader log"; tail -n 20 "$tmp/reader.log" || true; fi
  rm -rf "$tmp"
  rm -f "/dev/shm/$segment"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
deadline=$(( $(date +%s) + 30 ))

"$reader" --segment "$segment" --http 127.0.0.1:0 --log-level info >"$tmp/reader.log" 2>&1 &
reader_pid=$!
port=""
while [ -z "$port" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "the reader did not start serving"
  kill -0 "$reader_pid" 2>/dev/null || die "the reader exited"
  port=$(grep -o 'serving /metrics.*http://127\.0\.0\.1:[0-9]*' "$tmp/reader.log" | sed 's/.*://' | head -n 1 || true)
  sleep 0.1
done

recorded=$("$writer" "$segment" "$seed")
echo "writer: $recorded"
# Drained once the reader has counted every record the writer made (all kinds together).
want=${recorded#recorded }
while :; do
  [ "$(date +%s)" -lt "$deadline" ] || die "the reader did not drain the writer's records"
  curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/scrape.txt" || true
  got=$(awk '/^telering_records_drained_total/ { s += $2 } END { printf "%d", s }' "$tmp/scrape.txt")
  [ "${got:-0}" -ge "$want" ] && break
  sleep 0.2
done
echo "scrape: $(wc -l <"$tmp/scrape.txt") lines, $got records drained"
if ! promtool check metrics <"$tmp/scrape.txt"; then
  die "promtool refused the scrape (seed $seed)"
fi
echo "promtool check metrics: ok"
