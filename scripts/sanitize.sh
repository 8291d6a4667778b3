#!/usr/bin/env bash
# Second build of the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, with clang,
# including short libFuzzer runs of the three harnesses (fuzz.smoke.*). Incremental on re-runs.
# Usage: scripts/sanitize.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh >/dev/null 2>&1 || scripts/bootstrap.sh  # packages (clang) and the main build
[ -f build-sanitize/CMakeCache.txt ] ||
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
        -DVITC_SANITIZE=ON -DVITC_FUZZ=ON >/dev/null
cmake --build build-sanitize -j"$(nproc)" >&2
# halt_on_error: any report fails the test that triggered it.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
ctest --test-dir build-sanitize --output-on-failure -j2 "$@"
