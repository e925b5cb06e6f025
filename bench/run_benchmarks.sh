#!/usr/bin/env bash
# Builds the benchmarks in Release (build-bench/) and runs them, printing their tables.
#   bench/run_benchmarks.sh                 all four programs (~2.5 min on a quiet 2-core VM)
#   BENCH_ONLY=record bench/run_benchmarks.sh   one of: record, throughput, overload, fleet, reader, scrape, snapshot
#   BENCH_WAIT_IDLE=600 bench/run_benchmarks.sh  first wait (up to 600 s) for other load to stop
# Extra CMake arguments: TELERING_BENCH_CMAKE_ARGS="..." (reader and tests are off by default
# so that the benchmarks build even while those parts are being edited).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-bench

# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTELERING_BUILD_BENCH=ON \
  -DTELERING_BUILD_TESTS=OFF -DTELERING_BUILD_READER=OFF ${TELERING_BENCH_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_record bench_throughput bench_overload bench_fleet
# bench_reader needs telering-reader's library: its own build directory, with the reader on.
reader_build=build-bench-reader
if [ "${BENCH_ONLY:-all}" = all ] || [ "${BENCH_ONLY:-all}" = reader ] || [ "${BENCH_ONLY:-all}" = scrape ] ||
   [ "${BENCH_ONLY:-all}" = snapshot ] || [ "${BENCH_ONLY:-all}" = dashboard ]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$reader_build" -DCMAKE_BUILD_TYPE=Release -DTELERING_BUILD_BENCH=ON \
    -DTELERING_BUILD_TESTS=OFF -DTELERING_BUILD_READER=ON ${TELERING_BENCH_CMAKE_ARGS:-} >/dev/null
  cmake --build "$reader_build" -j"$(nproc)" --target bench_reader bench_scrape bench_snapshot bench_dashboard
fi

echo "== machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
# Other load on the machine distorts every figure below (2 cores: producer + consumer use both).
busy_percent() {
  read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat
  sleep 1
  read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ < /proc/stat
  local busy=$(( (u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1) ))
  local total=$(( busy + (i2 + w2) - (i1 + w1) ))
  echo $(( total > 0 ? 100 * busy / total : 0 ))
}
b=$(busy_percent)
# BENCH_WAIT_IDLE=SECONDS: on a shared machine, wait up to that long for it to go idle (<= 5%).
deadline=$(( $(date +%s) + ${BENCH_WAIT_IDLE:-0} ))
while [ "$b" -gt 5 ] && [ "$(date +%s)" -lt "$deadline" ]; do b=$(busy_percent); done
echo "== CPU busy before the run (other processes): ${b}%$( [ "$b" -gt 5 ] && echo '  WARNING: machine not idle, figures will be noisy')"

only=${BENCH_ONLY:-all}
if [ "$only" = all ] || [ "$only" = record ]; then
  # Repetitions of all cases interleaved in random order, so passing load hits every case alike.
  echo; echo "== bench_record"; "$build/bench/bench_record" --benchmark_color=false --benchmark_enable_random_interleaving=true
fi
if [ "$only" = all ] || [ "$only" = throughput ]; then
  echo; echo "== bench_throughput"; "$build/bench/bench_throughput"
fi
if [ "$only" = all ] || [ "$only" = overload ]; then
  echo; echo "== bench_overload"; "$build/bench/bench_overload" --benchmark_color=false
fi
if [ "$only" = all ] || [ "$only" = fleet ]; then
  echo; echo "== bench_fleet"; "$build/bench/bench_fleet" --benchmark_color=false
fi
if [ "$only" = all ] || [ "$only" = reader ]; then
  # Throughput, decision latency, idle CPU, health-check cost, memory (~1 min).
  # BENCH_READER_SECTIONS="memory,gbench,latency,idle" picks a subset.
  echo; echo "== bench_reader"; "$reader_build/bench/bench_reader" --benchmark_color=false
fi
if [ "$only" = all ] || [ "$only" = scrape ]; then
  # /metrics: snapshot build, scrape cost, drain with/without a scrape every 100 ms (~35 s).
  echo; echo "== bench_scrape"; "$reader_build/bench/bench_scrape"
fi
if [ "$only" = all ] || [ "$only" = dashboard ]; then
  # The dashboard: frame build, reader CPU per /events stream, drain with 16 streams vs none (~80 s).
  echo; echo "== bench_dashboard"; "$reader_build/bench/bench_dashboard"
fi
if [ "$only" = all ] || [ "$only" = snapshot ]; then
  # The reader's state snapshot: build, encode, atomic write, decode + restore (~10 s).
  echo; echo "== bench_snapshot"; "$reader_build/bench/bench_snapshot" --benchmark_color=false
fi
