#!/usr/bin/env bash
# Installs the Debian 12 packages telering builds and tests with. Idempotent: installs only
# what is missing. Needs root for apt-get; otherwise prints the command to run.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libcurl4-openssl-dev libcpp-httplib-dev
  libconcurrentqueue-dev
  python3 python3-dev python3-venv python3-pip
  # The dashboard's browser test (tests/dashboard_browser_test.py): headless Chromium driven
  # by Debian's Selenium (which runs with /usr/bin/python3).
  chromium chromium-driver python3-selenium
)
# npm fetches the dashboard's chart library (below); Debian's nodejs comes without it.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "telering needs these Debian packages: ${missing[*]}" >&2
    echo "run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The dashboard's chart library, compiled into telering-reader (reader/src/dashboard/):
# uPlot from the npm registry, this version only, refused unless the tarball matches the
# registry's published integrity (sha512) pinned here. Kept in third_party/uplot/ (not in git).
uplot_version=1.6.32
uplot_integrity="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
uplot_dir="$(cd "$(dirname "$0")/.." && pwd)/third_party/uplot"
if [ "$(cat "$uplot_dir/VERSION" 2>/dev/null)" != "$uplot_version" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "fetching uplot@$uplot_version from the npm registry"
  (cd "$work" && npm pack "uplot@$uplot_version" --silent >/dev/null)
  got="sha512-$(openssl dgst -sha512 -binary "$work/uplot-$uplot_version.tgz" | base64 -w0)"
  if [ "$got" != "$uplot_integrity" ]; then
    echo "uplot-$uplot_version.tgz: integrity $got, expected $uplot_integrity: refused" >&2
    exit 1
  fi
  tar -xzf "$work/uplot-$uplot_version.tgz" -C "$work"
  mkdir -p "$uplot_dir"
  cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$uplot_dir/"
  echo "$uplot_version" > "$uplot_dir/VERSION"
fi
