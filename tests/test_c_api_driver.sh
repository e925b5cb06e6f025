#!/usr/bin/env bash
# Drives tests/test_c_api.c (compiled as C11) against a real segment and telering-reader.
#
#   test_c_api_driver.sh TEST_C_API TELERING_READER
#
# 1. offline: the C program records a known set with no reader running; then
#    `telering-reader --once --json` drains the segment and its report must show exactly
#    those records (2 errors by type, 3 scans averaging 20 s, 2 API calls, 100 MB, 2 warnings).
# 2. live: a reader runs; the C program sends commands and reads decisions and the report page.
# The segment name is unique per run and /dev/shm is cleaned up whatever happens.
set -euo pipefail
test_c_api=$1
reader=$2
segment="telering-capi-$$-$RANDOM"
reader_pid=""
out=$(mktemp)
cleanup() {
  if [[ -n "$reader_pid" ]]; then kill "$reader_pid" 2>/dev/null || true; wait "$reader_pid" 2>/dev/null || true; fi
  rm -f "/dev/shm/$segment" "$out"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- reader report:" >&2; cat "$out" >&2; exit 1; }

"$test_c_api" offline "$segment"
"$reader" --segment "$segment" --once --json --log-level warn > "$out"
expect() { grep -q -- "$1" "$out" || fail "report lacks $1"; }
expect '"total_errors":2'
expect '"api_rate_limit":1'
expect '"position_not_found":1'
expect '"avg_scan_time_s":20.0'
expect '"scan_samples":3'
expect '"api_samples":2'
expect '"avg_api_latency_s":2.0'
expect '"memory_mb":100.0'
expect '"warnings_total":2'
expect '"c-test-bot"'
expect '"HIGH":1'
expect '"MEDIUM":1'
expect '"message":"endpoint=/api/v1/market/orderbook"'
expect '"component":"market_scanner"'
grep -q '"malformed' "$out" && grep -q '"malformed":[1-9]' "$out" && fail "malformed records"
echo "offline: reader report has every record"

"$reader" --segment "$segment" --json --log-level warn --report-interval 1h > "$out" &
reader_pid=$!
"$test_c_api" live "$segment"
kill -TERM "$reader_pid"
wait "$reader_pid" || fail "reader exited non-zero"
reader_pid=""
expect '"c_custom_error":1'
expect '"total_errors":1'
echo "live: commands, decisions and the report page work from C"
