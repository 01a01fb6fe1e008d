#!/usr/bin/env bash
# bench/run gateway [--quick]: brings the local cluster up if needed (and down again if it
# started it), then runs bench/gateway.py against the Release build in build-bench/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export OKNO_BUILD=${OKNO_BENCH_BUILD:-$root/build-bench}
record=$(mktemp)
trap 'if [ -s "$record" ]; then "$root/deploy/local/down" --only "$(sort -u "$record" | tr "\n" " ")" >&2; fi; rm -f "$record"' EXIT
OKNO_SKIP_BOOTSTRAP=1 "$root/deploy/local/up" --no-build --no-services --record "$record" >&2
OKNO_BUILD_DIR=$OKNO_BUILD python3 "$root/bench/gateway.py" "$@"
