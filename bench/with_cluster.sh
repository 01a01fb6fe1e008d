#!/usr/bin/env bash
# bench/with_cluster.sh SCRIPT.py [ARGS...]: brings the local cluster up if needed (and down
# again if it started it), then runs bench/SCRIPT.py against the Release build in build-bench/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
script=$1
shift
export OKNO_BUILD=${OKNO_BENCH_BUILD:-$root/build-bench}
record=$(mktemp)
trap 'if [ -s "$record" ]; then "$root/deploy/local/down" --only "$(sort -u "$record" | tr "\n" " ")" >&2; fi; rm -f "$record"' EXIT
OKNO_SKIP_BOOTSTRAP=1 "$root/deploy/local/up" --no-build --no-services --record "$record" >&2
OKNO_BUILD_DIR=$OKNO_BUILD python3 "$root/bench/$script" "$@"
