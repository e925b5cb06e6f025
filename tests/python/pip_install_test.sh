#!/usr/bin/env bash
# pip_install_test.sh PACKAGE_DIR PYTHON [PYTHON...] — for each interpreter: a fresh venv,
# `pip install --no-index PACKAGE_DIR` (offline: the in-tree backend needs no index), then
# the installed package records into a segment with no PYTHONPATH set, and the reader
# ($TELERING_READER) sees it.
set -euo pipefail
package=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"; rm -f /dev/shm/telering-py-pip-$$-*' EXIT
n=0
for python in "$@"; do
  n=$((n + 1))
  venv="$work/venv$n"
  echo "== $python ($("$python" -c 'import sys; print(sys.version.split()[0], sys.executable)'))"
  "$python" -m venv "$venv"
  env -u PYTHONPATH "$venv/bin/pip" install --no-index --disable-pip-version-check -q "$package"
  segment="telering-py-pip-$$-$n"
  (cd "$work" && env -u PYTHONPATH "$venv/bin/python" - "$segment" <<'PY'
import sys, telering
assert telering.__file__.startswith(sys.prefix), telering.__file__
telering.attach(segment=sys.argv[1], bot="pip-bot")
telering.get_health_check().performance_monitor.record_scan_time(3.0)
telering.get_error_manager().record_error("pip_error", "installed", telering.ErrorSeverity.LOW)
print("recorded from", telering.__file__)
PY
  )
  "$TELERING_READER" --segment "$segment" --once --json --log-level error | tail -1 |
    "$python" -c 'import json, sys; r = json.load(sys.stdin); assert r["metrics"]["scan_samples"] == 1, r; assert "pip-bot" in r["bots"], r; print("reader saw it")'
done
