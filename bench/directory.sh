#!/usr/bin/env bash
# bench/run directory [--quick]: the ledger's load of a generated directory of 200,000 orgs and
# 1,000,000 users (--quick: 20,000 and 100,000) from `okno directory generate` (load_s, goal
# <= 10; rss_mib, goal <= 512; floor_fetch_s: the same rows fetched and dropped), and
# change_visible_ms (goal <= 1,000): an admin change's commit to the reloaded directory holding
# it, by the ledger's path (NOTIFY on okno_directory, then the load). Starts PostgreSQL if it is
# not running (and stops what it started). The directory is generated once per size into a
# database of its own (okno_bench_directory_<orgs>) and kept; OKNO_BENCH_REGENERATE=1 makes it
# anew. The last line is one JSON object.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${OKNO_BENCH_BUILD:-$root/build-bench}
orgs=200000 users=1000000 quick=false
[ "${1:-}" = --quick ] && { orgs=20000 users=100000 quick=true; }

# shellcheck source=bench/cluster.sh
. "$root/bench/cluster.sh"
bench_cluster_up

bench_db okno_bench_directory_$orgs
present() { psql -X -q -tA "$admin" -c "select count(*) from okno.orgs" 2>/dev/null || echo 0; }

if [ "${OKNO_BENCH_REGENERATE:-0}" = 1 ] || [ "$(present)" -lt "$orgs" ]; then
    echo "directory bench: generating $orgs orgs and $users users into $db (once per size)" >&2
    psql_admin -c "drop database if exists $db with (force)" -c "create database $db"
    OKNO_PG_ADMIN_CONNINFO=$admin "$okno" migrate >&2
    "$okno" directory generate --orgs "$orgs" --users "$users" --seed 1 --pg "$admin"
    psql -X -q "$admin" -c "vacuum analyze" >&2
fi
# The changes go to the first municipal body's org (any org below the operator would do).
org=$(psql -X -q -tA "$admin" -c "select max(org_id) from okno.orgs")
json=$("$bdir/bench/bench_directory" "$app" "$org")
echo "$json" | python3 -c "
import json, sys
o = json.loads(sys.stdin.read()); o['quick'] = $( $quick && echo True || echo False ); print(json.dumps(o))"
