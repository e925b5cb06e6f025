# Sourced by the integration scripts (tests/*_integration.sh): exit codes, and installing a
# Debian package a script needs.
SKIP=77  # CTest's SKIP_RETURN_CODE for these tests
die() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit "$SKIP"; }

# ensure_debian_package PACKAGE CHECK...: when CHECK fails, installs PACKAGE with apt-get
# (as root) and checks again; skips (exit 77) saying why when that cannot be done.
ensure_debian_package() {
  local package=$1
  shift
  "$@" && return
  [ "$(id -u)" -eq 0 ] || skip "Debian package '$package' is not installed and we are not root to install it (apt-get install $package)"
  command -v apt-get >/dev/null || skip "no apt-get to install Debian package '$package'"
  echo "installing Debian package $package..."
  export DEBIAN_FRONTEND=noninteractive
  # The package's service cannot start without systemd; that is fine, the tests start their own.
  if ! { apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 ||
         { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; }; }; then
    skip "could not install Debian package '$package' with apt-get (offline?)"
  fi
  "$@" || skip "package '$package' installed but '$*' still fails"
}

# http_port_of LOG PID: the port telering-reader (started with --http 127.0.0.1:0 and
# --log-level info, logging to LOG) says it serves on; waits up to 30 s. Letting the reader
# bind port 0 itself avoids a port picked here and taken by another process before it binds.
http_port_of() {
  local log=$1 pid=$2 port="" deadline=$(( $(date +%s) + 30 ))
  until [ -n "$port" ]; do
    port=$(sed -n 's|.*serving /metrics.* on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -n1)
    [ -n "$port" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "telering-reader did not say which port it serves on ($log)"
    kill -0 "$pid" 2>/dev/null || die "telering-reader exited: $(tail -n 3 "$log")"
    sleep 0.1
  done
  echo "$port"
}
