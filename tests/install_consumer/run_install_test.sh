#!/usr/bin/env bash
# Install test: `cmake --install` the build into a temporary prefix (never the build tree),
# build this consumer project against it with find_package(telering CONFIG) and with
# pkg-config, run the consumers into a unique segment, and check the installed
# telering-reader's `--once --json` report. Cleans up the prefix and /dev/shm.
#
#   run_install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR CMAKE C_COMPILER CXX_COMPILER [EXTRA_FLAGS]
set -euo pipefail
build=$1 source=$2 cmake=$3 cc=$4 cxx=$5 flags=${6:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/telering-install.XXXXXX")
segment="telering-install-$$-$RANDOM"
cleanup() { rm -rf "$work"; rm -f "/dev/shm/$segment"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix="$work/prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
for f in include/telering/writer.hpp include/telering/telering_writer.h include/telering/record.hpp bin/telering-reader; do
  [[ -e "$prefix/$f" ]] || fail "not installed: $f"
done
libdir=$(dirname "$(find "$prefix" -name libtelering_writer.a | head -1)")
[[ -n "$libdir" && -e "$libdir/libtelering_core.a" && -e "$libdir/libtelering.so" ]] || fail "libraries not installed"
[[ -e "$libdir/cmake/telering/teleringConfig.cmake" && -e "$libdir/cmake/telering/teleringConfigVersion.cmake" ]] || fail "package config not installed"
[[ -e "$libdir/pkgconfig/telering.pc" ]] || fail "telering.pc not installed"
if grep -q "^ *add_executable(telering-stat" "$source/../../reader/CMakeLists.txt" 2>/dev/null; then
  [[ -x "$prefix/bin/telering-stat" ]] || fail "telering-stat not installed"
fi
echo "installed into $prefix"

"$cmake" -S "$source" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" > "$work/configure.log" \
  || { cat "$work/configure.log"; fail "consumer configure"; }
"$cmake" --build "$work/build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; fail "consumer build"; }
grep -q "$prefix" "$work/build/CMakeCache.txt" || fail "consumer did not use the installed prefix"
if grep -q "$build" "$work/build/CMakeCache.txt"; then fail "consumer refers to the build tree"; fi
# Warnings as errors are telering's own business (TELERING_WARNINGS_AS_ERRORS, PRIVATE): they
# must reach neither the consumer's compile lines through the package nor, with telering's
# defaults, a project that embeds the source tree with add_subdirectory (configured only).
werror_in() { grep -rl --include=flags.make --include=build.ninja --include='*.cmake' -e '-Werror' "$@"; }
if werror_in "$libdir/cmake/telering" "$work/build"; then fail "find_package(telering) passes -Werror to the consumer"; fi
mkdir -p "$work/embed"
printf 'cmake_minimum_required(VERSION 3.25)\nproject(embeds_telering LANGUAGES C CXX)\nadd_subdirectory("%s" telering)\n' \
  "$(cd "$source/../.." && pwd)" > "$work/embed/CMakeLists.txt"
"$cmake" -S "$work/embed" -B "$work/embed-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_CXX_COMPILER="$cxx" > "$work/embed.log" 2>&1 || { cat "$work/embed.log"; fail "add_subdirectory configure"; }
if werror_in "$work/embed-build"; then fail "add_subdirectory(telering) compiles with -Werror by default"; fi
# Nor are telering's tests and benchmarks part of a project that embeds it.
if [ -d "$work/embed-build/telering/tests" ] || [ -d "$work/embed-build/telering/bench" ]; then
  fail "add_subdirectory(telering) builds telering's tests or benchmarks by default"
fi

# pkg-config: a C bot built by hand against the installed C ABI.
pc_flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs telering) || fail "pkg-config telering"
"$cc" -std=c11 -Wall -Wextra -Werror $flags "$source/c_consumer.c" $pc_flags -o "$work/c_consumer_pc" || fail "pkg-config build"

"$work/build/cpp_consumer" "$segment"
LD_LIBRARY_PATH="$libdir" "$work/build/c_consumer" "$segment" install-consumer-c
LD_LIBRARY_PATH="$libdir" "$work/c_consumer_pc" "$segment" install-consumer-pc

report=$("$prefix/bin/telering-reader" --segment "$segment" --once --json --log-level warn)
check() { grep -q -- "$1" <<<"$report" || { echo "$report" >&2; fail "report lacks $1"; }; }
check '"total_errors":1'
check '"install_check":1'
check '"warnings_total":2'
check '"scan_samples":3'
check '"install-consumer-cpp"'
check '"install-consumer-c"'
check '"install-consumer-pc"'
echo "installed package: consumers built with find_package and pkg-config; reader saw their records"
