#!/usr/bin/env bash
# ctest fixture for integration tests: `cluster.sh up` starts whatever of the local cluster is not
# running yet (reusing a running one) and records what it started; `cluster.sh down` stops exactly
# that, so a developer's running cluster survives the tests. ctest runs `down` even after failures.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
record=${OKNO_BUILD:-$root/build}/cluster.started
case ${1:-} in
up)
    : >"$record"
    OKNO_SKIP_BOOTSTRAP=1 "$root/deploy/local/up" --no-build --no-services --record "$record"
    ;;
down)
    [ -s "$record" ] || { echo "cluster.sh: the tests started nothing; leaving the cluster as it is"; exit 0; }
    "$root/deploy/local/down" --only "$(sort -u "$record" | tr '\n' ' ')"
    rm -f "$record"
    ;;
*) echo "usage: cluster.sh up|down" >&2; exit 2 ;;
esac
