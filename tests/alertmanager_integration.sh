#!/usr/bin/env bash
# Alertmanager against telering-reader, for real.
#
#   alertmanager_integration.sh READER STAT DEPLOY_DIR
#
# First checks the shipped examples: amtool check-config DEPLOY_DIR/alertmanager.yml, and
# DEPLOY_DIR/reader.toml loads in telering-reader (with a temporary secret file). Then it
# starts telering-reader on a fresh segment with an [alertmanager] rule and a secret_file,
# serving --http on a free loopback port, and Debian's prometheus-alertmanager on loopback
# (clustering off) whose webhook receiver posts to the reader's /alertmanager with that
# secret as a bearer token. Then, through Alertmanager's own API:
#   - a firing ExchangeApiDegraded{exchange="kucoin"} alert -> the kucoin_api breaker is
#     FORCED_OPEN on the segment (read with telering-stat --json) and in the reader's /metrics;
#   - the same alert with endsAt now (resolved) -> the breaker is CLOSED again;
# and directly with curl: a wrong or missing bearer token is refused (401). Also checks that
# the reader refuses to start with rules but no secret on a non-loopback address.
#
# Needs prometheus-alertmanager: installs the Debian package when missing and running as
# root; otherwise, or when the install fails, exits 77 (CTest SKIP_RETURN_CODE) saying why.
# Cleans up its processes, temp dir and /dev/shm segment on every exit. Bounded: each wait
# gives up after 30 s.
set -euo pipefail

ALERTMANAGER=/usr/bin/prometheus-alertmanager
# shellcheck source=support/integration.sh
. "$(dirname "$0")/support/integration.sh"

ensure_alertmanager() { ensure_debian_package prometheus-alertmanager test -x "$ALERTMANAGER"; }

reader=${1:?usage: $0 READER STAT DEPLOY_DIR}
stat=${2:?usage: $0 READER STAT DEPLOY_DIR}
deploy=${3:?usage: $0 READER STAT DEPLOY_DIR}
ensure_alertmanager
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"

tmp=$(mktemp -d /tmp/telering-am-it.XXXXXX)
segment="telering-am-it-$$"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ]; then
    echo "--- reader log"; tail -n 30 "$tmp/reader.log" 2>/dev/null || true
    echo "--- alertmanager log"; tail -n 30 "$tmp/alertmanager.log" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  rm -f "/dev/shm/$segment" "/dev/shm/$segment-refused"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds, for at most 30 s.
wait_for() {
  local what=$1; shift
  local deadline=$(( $(date +%s) + 30 ))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || die "gave up after 30 s waiting for: $what"
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "a process exited while waiting for: $what"; done
    sleep 0.2
  done
  echo "ok: $what"
}

# Alertmanager's port and one for the refused start, chosen by the kernel (the reader binds
# port 0 itself: http_port_of).
read -r am_port refuse_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

secret="am-it-$$-$RANDOM$RANDOM"
printf '%s\n' "$secret" > "$tmp/am.secret"  # the reader strips the newline, as Alertmanager does
chmod 600 "$tmp/am.secret"
cat > "$tmp/reader.toml" <<EOF
[reader]
publish_interval = "200ms"

[alertmanager]
secret_file = "am.secret"   # relative to this file

[[alertmanager.rules]]
alertname = "ExchangeApiDegraded"
labels = { exchange = "kucoin" }
action = "open_breaker"
target = "kucoin_api"
max_duration = "10m"
EOF

# The shipped examples: Alertmanager's own checker, and the reader's config loader.
if [ -x /usr/bin/amtool ]; then
  /usr/bin/amtool check-config "$deploy/alertmanager.yml" >/dev/null || die "amtool check-config $deploy/alertmanager.yml"
  echo "ok: amtool check-config $deploy/alertmanager.yml"
fi
sed -e "s|^secret_file = .*|secret_file = \"$tmp/am.secret\"|" -e '/^http = /d' "$deploy/reader.toml" > "$tmp/example.toml"
"$reader" --segment "$segment-refused" --config "$tmp/example.toml" --once >"$tmp/example.log" 2>&1 ||
  die "the example $deploy/reader.toml does not load: $(tail -n 3 "$tmp/example.log")"
rm -f "/dev/shm/$segment-refused"
echo "ok: $deploy/reader.toml loads"

# The security rule: rules without a secret are refused on a non-loopback address.
cat > "$tmp/no-secret.toml" <<EOF
[[alertmanager.rules]]
alertname = "ExchangeApiDegraded"
action = "open_breaker"
target = "kucoin_api"
EOF
rc=0
"$reader" --segment "$segment-refused" --config "$tmp/no-secret.toml" --http "0.0.0.0:$refuse_port" \
  >"$tmp/refused.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || die "telering-reader started with rules and no secret on 0.0.0.0"
grep -q "without a secret" "$tmp/refused.log" || die "refusal does not say why: $(cat "$tmp/refused.log")"
echo "ok: reader refuses rules without a secret on 0.0.0.0 (exit $rc)"

"$reader" --segment "$segment" --config "$tmp/reader.toml" --http "127.0.0.1:0" \
  --log-level info >"$tmp/reader.log" 2>&1 &
pids+=($!)
reader_port=$(http_port_of "$tmp/reader.log" "$!")
reader_url="http://127.0.0.1:$reader_port"
wait_for "telering-reader ready on $reader_url" curl -fs -o /dev/null "$reader_url/-/ready"

# Wrong and missing bearer tokens: 401, straight to the reader.
body='{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ExchangeApiDegraded","exchange":"kucoin"},"fingerprint":"forged"}]}'
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'Authorization: Bearer wrong' \
  --data "$body" "$reader_url/alertmanager")
[ "$code" = 401 ] || die "a wrong bearer token got HTTP $code, not 401"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data "$body" "$reader_url/alertmanager")
[ "$code" = 401 ] || die "a missing bearer token got HTTP $code, not 401"
echo "ok: wrong and missing bearer tokens are refused (401)"

cat > "$tmp/alertmanager.yml" <<EOF
global:
  resolve_timeout: 5s
route:
  receiver: telering
  group_by: ['alertname', 'exchange']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: telering
    webhook_configs:
      - url: $reader_url/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: $tmp/am.secret
EOF
"$ALERTMANAGER" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/am-data" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= --log.level=info \
  >"$tmp/alertmanager.log" 2>&1 &
pids+=($!)
am_url="http://127.0.0.1:$am_port"
wait_for "prometheus-alertmanager ready on $am_url" curl -fs -o /dev/null "$am_url/-/ready"

# breaker_state: the kucoin_api breaker as the segment's board has it. telering-stat lists
# only entries that differ from the defaults, so no row means CLOSED.
breaker_state() {
  "$stat" --segment "$segment" --once --json 2>/dev/null | python3 -c '
import json, sys
try:
    doc = json.loads(sys.stdin.readline())
except ValueError:
    print("telering-stat-failed")
    sys.exit(0)
print(next((r["breaker"] for r in doc.get("board", []) if r.get("name") == "kucoin_api"), "CLOSED"))'
}
board_says() { [ "$(breaker_state)" = "$1" ]; }
# metric NAME_WITH_LABELS -> its value in the reader's /metrics ("" when absent).
metric() {
  curl -fsS --max-time 2 "$reader_url/metrics" | awk -v want="$1" '$1 == want { print $2 }'
}
metrics_say() { [ "$(metric "$1")" = "$2" ]; }

post_alert() {  # post_alert ENDS_AT(optional)
  local ends=""
  [ -n "${1:-}" ] && ends=",\"endsAt\":\"$1\""
  curl -fsS -o /dev/null -H 'Content-Type: application/json' "$am_url/api/v2/alerts" --data "[{
    \"labels\": {\"alertname\": \"ExchangeApiDegraded\", \"exchange\": \"kucoin\", \"severity\": \"critical\"},
    \"annotations\": {\"summary\": \"kucoin API error rate above 20 % on the fleet\"},
    \"startsAt\": \"$started\"$ends,
    \"generatorURL\": \"http://prometheus.invalid/graph\"}]"
}

board_says CLOSED || die "kucoin_api breaker is not closed before any alert: $(breaker_state)"
started=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
post_alert
wait_for "firing alert -> kucoin_api FORCED_OPEN on the board" board_says FORCED_OPEN
wait_for "reader /metrics: telering_breaker_state{component=\"kucoin_api\"} 3 (forced open)" \
  metrics_say 'telering_breaker_state{component="kucoin_api"}' 3

sleep 0.1  # endsAt must come after startsAt
post_alert "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"
wait_for "resolved alert -> kucoin_api CLOSED on the board" board_says CLOSED
wait_for "reader /metrics: telering_alertmanager_alerts_total{status=\"resolved\"} 1" \
  metrics_say 'telering_alertmanager_alerts_total{status="resolved"}' 1
for result in unauthorized ok; do echo "reader /metrics: requests_total{result=\"$result\"} = $(metric "telering_alertmanager_requests_total{result=\"$result\"}")"; done
[ "$(metric 'telering_alertmanager_requests_total{result="unauthorized"}')" = 2 ] || die "the two refused requests are not counted"
grep -q "accepting Alertmanager webhooks" "$tmp/reader.log" || die "the reader did not log that it serves the webhook"
echo "PASS: Alertmanager's firing and resolved notifications opened and closed the breaker on the board"
