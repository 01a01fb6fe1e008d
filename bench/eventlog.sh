#!/usr/bin/env bash
# bench/run eventlog [--quick]: the event log's append and relay throughput against the local
# cluster (start it with deploy/local/up); reads its addresses from .work/cluster.env.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
env=$root/.work/cluster.env
[ -f "$env" ] || { echo "bench/eventlog.sh: no $env; run deploy/local/up first" >&2; exit 2; }
# shellcheck disable=SC1090
. "$env"
export OKNO_PG_ADMIN_CONNINFO OKNO_KAFKA_BOOTSTRAP
exec "${OKNO_BENCH_BUILD:-$root/build-bench}/bench/bench_eventlog" "$@"
