#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds telering and runs every test suite with CTest.
# Usage: scripts/test.sh [extra ctest args]   (BUILD_DIR, CMAKE_ARGS may be set)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build="${BUILD_DIR:-build}"
# Warnings are errors here (developers and CI); a user's build has them as warnings.
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTELERING_BUILD_BENCH=OFF \
  -DTELERING_WARNINGS_AS_ERRORS=ON ${CMAKE_ARGS:-}
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j2 "$@"
