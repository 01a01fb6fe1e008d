#!/usr/bin/env bash
# Configures (once) and builds okno into build/ with Ninja. Extra arguments go to CMake's
# configure step, e.g. deploy/build.sh -DOKNO_SANITIZE=ON.
set -euo pipefail
OKNO_SCRIPT=build
. "$(dirname "$0")/lib.sh"
mkdir -p "$OKNO_WORK"
if [ ! -f "$OKNO_BUILD/CMakeCache.txt" ] || [ $# -gt 0 ]; then
    cmake -S "$OKNO_ROOT" -B "$OKNO_BUILD" -G Ninja "$@" >"$OKNO_WORK/cmake.log" 2>&1 ||
        { cat "$OKNO_WORK/cmake.log" >&2; okno_die "CMake configure failed"; }
fi
cmake --build "$OKNO_BUILD" -- -j"$(nproc)" >"$OKNO_WORK/build.log" 2>&1 ||
    { tail -n 40 "$OKNO_WORK/build.log" >&2; okno_die "build failed; full log in $OKNO_WORK/build.log"; }
okno_say "built in $OKNO_BUILD"
