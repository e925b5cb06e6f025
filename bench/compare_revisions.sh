#!/usr/bin/env bash
# Runs the hot-path benchmarks of two revisions side by side in one session, so that the
# machine's drift hits both alike.
#   bench/compare_revisions.sh <base-rev> [rounds]        e.g. bench/compare_revisions.sh 6ae4dda 3
# Checks <base-rev> out in build-bench-<rev>/src (a git worktree, kept for the next run;
# `git worktree remove build-bench-<rev>/src` drops it), builds it in build-bench-<rev>/build
# and this tree in build-bench/ (Release, reader and tests off). Then:
#  1. instructions per record of each (bench/record_instructions.cpp under callgrind): exact
#     and repeatable, where wall-clock figures on these shared VMs drift by 2x between rounds;
#  2. bench_record's writer cases and bench_throughput's flat-out rows, base then this,
#     `rounds` times (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:?usage: bench/compare_revisions.sh <base-rev> [rounds]}
rounds=${2:-2}
base_dir="$PWD/build-bench-$base_rev"
base_tree="$base_dir/src"
[ -d "$base_tree" ] || git worktree add --detach "$base_tree" "$base_rev" >/dev/null
this_label="this ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- core writer || echo ' + changes'))"

build() {  # <source tree> <build dir>
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DTELERING_BUILD_BENCH=ON \
    -DTELERING_BUILD_TESTS=OFF -DTELERING_BUILD_READER=OFF >/dev/null
  cmake --build "$2" -j"$(nproc)" --target bench_record bench_throughput >/dev/null
}
build "$base_tree" "$base_dir/build"
build . build-bench

# Callgrind totals for 20k and 120k calls; the difference / 100k leaves out attach and claim.
instructions() {  # <source tree> <build dir> <label>
  local exe="$2/record_instructions"
  g++ -std=c++20 -O3 -DNDEBUG -I"$1/writer/include" -I"$1/core/include" bench/record_instructions.cpp \
    "$2/writer/libtelering_writer.a" "$2/core/libtelering_core.a" -pthread -o "$exe"
  for mode in scan_time error; do
    local arg="" totals=() n
    [ "$mode" = error ] && arg=error
    for n in 20000 120000; do
      # shellcheck disable=SC2086
      totals+=("$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$exe" "$n" $arg 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p')")
    done
    printf '%-28s %-10s %4d instructions per call\n' "$3" "$mode" $(( (totals[1] - totals[0]) / 100000 ))
  done
}
if command -v valgrind >/dev/null; then
  echo "== instructions per record (callgrind)"
  instructions "$base_tree" "$base_dir/build" "base ($base_rev)"
  instructions . build-bench "$this_label"
else
  echo "valgrind not found: instruction counts skipped"
fi

cases='Floor|Writer_ScanTime|Writer_Error|Writer_BreakerOpenId|SpscLane_Push/DefaultIdle'
for round in $(seq 1 "$rounds"); do
  for side in base this; do
    dir=build-bench label=$this_label
    [ "$side" = base ] && dir="$base_dir/build" label="base ($base_rev)"
    echo; echo "== round $round, $label"
    "$dir/bench/bench_record" --benchmark_color=false --benchmark_filter="$cases" \
      --benchmark_enable_random_interleaving=true 2>&1 | sed -n '/^case /,/^$/p'
    "$dir/bench/bench_throughput" 2>&1 | grep -E '^(===|consumer|DefaultIdle +flat|BusySpin +flat)'
  done
done
