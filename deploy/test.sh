#!/usr/bin/env bash
# Runs okno's whole test suite: installs what is missing, builds, and runs every ctest test.
# Integration tests bring up the local Kafka and PostgreSQL themselves (reusing a running
# cluster) and stop what they started, also when they fail.
#   deploy/test.sh [ctest arguments...]     e.g. deploy/test.sh -L unit
set -euo pipefail
OKNO_SCRIPT=test
. "$(dirname "$0")/lib.sh"
"$OKNO_ROOT/deploy/bootstrap.sh"
"$OKNO_ROOT/deploy/build.sh"
cd "$OKNO_BUILD"
exec ctest --output-on-failure --timeout 1800 -j"$(nproc)" "$@"
