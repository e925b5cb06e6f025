#!/usr/bin/env bash
# Prometheus against telering, for real.
#
#   prometheus_integration.sh --rules-only RULES_DIR
#       promtool check + promtool test rules on RULES_DIR/telering{,-fleet}-rules{,.test}.yml
#   prometheus_integration.sh READER WRITER RULES_DIR
#       starts telering-reader (--http on a free loopback port) on a fresh segment, feeds it
#       with WRITER (tests/helpers/obs_writer_main.cpp: a known number of errors, failed
#       calls and scans), starts Debian's prometheus on loopback scraping the reader every
#       second with the shipped rules, and asserts through Prometheus' HTTP query API that
#       what Prometheus stored is what the writer recorded: the error count, the breaker
#       state (OPEN), the scan count, memory, and that the errors alert fires.
#
# Needs promtool/prometheus: installs Debian's `prometheus` package when missing and running
# as root; otherwise, or when the install fails, exits 77 (CTest SKIP_RETURN_CODE) saying why.
# Cleans up its processes, temp dir and /dev/shm segment on every exit. Bounded: the test
# part gives up after 50 s.
set -euo pipefail

# shellcheck source=support/integration.sh
. "$(dirname "$0")/support/integration.sh"

have_prometheus() { command -v promtool >/dev/null && command -v prometheus >/dev/null; }
ensure_prometheus() { ensure_debian_package prometheus have_prometheus; }

if [ "${1:-}" = "--rules-only" ]; then
  rules_dir=${2:?usage: $0 --rules-only RULES_DIR}
  ensure_prometheus
  cd "$rules_dir"
  promtool check rules telering-rules.yml telering-fleet-rules.yml
  promtool test rules telering-rules.test.yml telering-fleet-rules.test.yml
  exit 0
fi

reader=${1:?usage: $0 READER WRITER RULES_DIR}
writer=${2:?usage: $0 READER WRITER RULES_DIR}
rules_dir=${3:?usage: $0 READER WRITER RULES_DIR}
ensure_prometheus
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"

tmp=$(mktemp -d /tmp/telering-prom-it.XXXXXX)
segment="telering-prom-it-$$"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ]; then
    echo "--- reader log"; tail -n 30 "$tmp/reader.log" 2>/dev/null || true
    echo "--- prometheus log"; tail -n 30 "$tmp/prometheus.log" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  rm -f "/dev/shm/$segment"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

deadline=$(( $(date +%s) + 50 ))
time_left() { [ "$(date +%s)" -lt "$deadline" ]; }

# Prometheus' port, chosen by the kernel. The reader binds port 0 itself and says which
# port it got: a port picked here and bound later can be taken in between by a concurrent test.
prom_port=$(python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

errors=5 failures=3 scans=4
cat > "$tmp/reader.toml" <<EOF
[reader]
publish_interval = "200ms"
[breakers.market_scanner]
consecutive_failures_threshold = 3
wait_duration_in_open = "10m"
EOF

"$reader" --segment "$segment" --config "$tmp/reader.toml" --http "127.0.0.1:0" \
  --log-level info >"$tmp/reader.log" 2>&1 &
pids+=($!)
reader_port=$(http_port_of "$tmp/reader.log" "${pids[0]}")
until curl -fsS "http://127.0.0.1:$reader_port/-/ready" >/dev/null 2>&1; do
  time_left || die "telering-reader did not become ready on 127.0.0.1:$reader_port"
  kill -0 "${pids[0]}" 2>/dev/null || die "telering-reader exited"
  sleep 0.1
done

recorded=$("$writer" --segment "$segment" --bot it-bot --errors "$errors" --failures "$failures" --scans "$scans")
echo "writer: $recorded"
[ "$recorded" = "recorded errors=$errors failures=$failures scans=$scans dropped=0" ] || die "writer reported: $recorded"

cat > "$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules_dir/telering-rules.yml
scrape_configs:
  - job_name: telering
    static_configs:
      - targets: ['127.0.0.1:$reader_port']
        labels: {host: integration-test}
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
pids+=($!)

# query EXPR -> the single value of an instant query, or "" when there is none yet.
query() {
  curl -fsS --max-time 2 --get "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
except Exception:
    sys.exit(0)
if len(r) == 1:
    v = float(r[0]["value"][1])
    print(int(v) if v == int(v) else v)'
}

# expect NAME EXPR WANT: waits (bounded) until EXPR evaluates to WANT.
expect() {
  local name=$1 expr=$2 want=$3 got=""
  while time_left; do
    got=$(query "$expr" || true)
    if [ "$got" = "$want" ]; then echo "ok: $name = $got"; return 0; fi
    sleep 0.5
  done
  die "$name: Prometheus says '${got:-no data}' for $expr, the writer recorded $want"
}

target="job=\"telering\",instance=\"127.0.0.1:$reader_port\""
expect "scrape target up" "up{$target}" 1
expect "errors_total{type=api_connection}" "sum(telering_errors_total{$target,type=\"api_connection\",severity=\"high\",bot=\"it-bot\"})" "$errors"
expect "errors in window" "telering_errors_in_window{$target,bot=\"it-bot\"}" "$errors"
expect "breaker state market_scanner (1 = OPEN)" "telering_breaker_state{$target,component=\"market_scanner\"}" 1
expect "breaker trips" "telering_breaker_trips_total{$target,component=\"market_scanner\"}" 1
expect "scan count" "telering_scan_time_seconds_count{$target,bot=\"it-bot\"}" "$scans"
expect "memory MiB" "telering_memory_bytes{$target,bot=\"it-bot\"} / 1048576" 900
expect "records dropped" "sum(telering_lane_dropped_records_total{$target})" 0
# The shipped rules are loaded and evaluate these series: 5 errors is the seed's warning.
expect "alert TeleringErrorsHigh firing" "count(ALERTS{alertname=\"TeleringErrorsHigh\",alertstate=\"firing\",bot=\"it-bot\"})" 1
echo "PASS: Prometheus scraped what the writer recorded"
