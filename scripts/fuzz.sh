#!/usr/bin/env bash
# Opt-in fuzzing: builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# FUZZ_SECONDS (default 60). New inputs go to a scratch corpus; FUZZ_MERGE=1 merges them
# into tests/fuzz/corpus/. Targets: record (validation + engine), segment (hostile bytes in a
# live segment: header validation, drainer, engine), config (the TOML config parser), http
# (the reader's HTTP request path: HttpSession with its routes and the Alertmanager webhook).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq clang libclang-rt-14-dev; else
    echo "fuzzing needs clang and its libFuzzer runtime: apt-get install -y clang libclang-rt-14-dev" >&2; exit 1; fi
fi
seconds="${FUZZ_SECONDS:-60}"
build="${BUILD_DIR:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTELERING_BUILD_FUZZ=ON \
  -DTELERING_SANITIZE_ADDRESS=ON -DTELERING_BUILD_TESTS=OFF -DTELERING_BUILD_BENCH=OFF -DTELERING_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$build" --target fuzz_record fuzz_segment fuzz_config fuzz_http
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in record segment config http; do
  mkdir -p "$scratch/$target"
  echo "== fuzz_$target for ${seconds} s"
  status=0
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
    "$scratch/$target" "tests/fuzz/corpus/$target" >"$scratch/$target.log" 2>&1 || status=$?
  grep -E "stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs" "$scratch/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$scratch/$target.log" >&2
    echo "fuzz_$target failed (exit $status): the crashing input is in the log above" >&2
    exit 1
  fi
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then "$build/tests/fuzz/fuzz_$target" -merge=1 "tests/fuzz/corpus/$target" "$scratch/$target" >/dev/null 2>&1; fi
done
rm -f /dev/shm/telering-fuzz-*
