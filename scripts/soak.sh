#!/usr/bin/env bash
# The soak (issue 5, item 5): writer processes x threads recording sequence-numbered records,
# random SIGKILLs and restarts of writers and of the consumer, then exact accounting:
# produced == delivered + dropped + lost-to-crash, no torn records. Opt-in; CI runs 20 s.
#
# Usage: scripts/soak.sh [telering_soak options]      e.g. --writers 4 --threads 2 --lanes 8
#   SOAK_SECONDS        how long (default 120)
#   TELERING_SOAK_SEED  replays a kill schedule (the seed is printed)
#   BUILD_DIR           build directory to use or create (default build); CMAKE_ARGS as in test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
if [[ ! -f "$build/build.ninja" ]]; then
  scripts/setup.sh
  # shellcheck disable=SC2086
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTELERING_BUILD_BENCH=OFF ${CMAKE_ARGS:-}
fi
cmake --build "$build" --target telering_soak
export SOAK_SECONDS="${SOAK_SECONDS:-120}"
exec "$build/tests/telering_soak" "$@"
