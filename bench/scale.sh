#!/usr/bin/env bash
# bench/run scale [--quick]: bench/scale.py, which brings up a three-broker cluster of its own in
# a scratch working folder (and removes it afterwards); a running local cluster is not touched.
root=$(cd "$(dirname "$0")/.." && pwd)
export OKNO_BUILD=${OKNO_BENCH_BUILD:-$root/build-bench}
OKNO_BUILD_DIR=$OKNO_BUILD exec python3 "$root/bench/scale.py" "$@"
