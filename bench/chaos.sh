#!/usr/bin/env bash
# Seeded chaos (run as `bench/run chaos [--quick] [--seed S] [--duration SECONDS]
# [--storm-minutes M]`): a load and waiting messages on a cluster of its own while faults from
# the seed's schedule strike (tests/faults/chaos.py: service SIGKILLs and SIGSTOPs, the broker
# SIGKILLed, PostgreSQL stopped with -m immediate and staying down, hostile records, rebalance
# storms of ledgers and timers, full disks for the WAL and the broker's log, the broker's port
# cut, the services' clock stepped), then the oracle over the whole run; then a rebalance storm
# of M minutes under load on a cluster of its own (tests/faults/storm.py), judged by the oracle
# too. 600 s and a 5-minute storm by default (--quick: 90 s and 1 minute); PostgreSQL's long
# outage holds 60 s (OKNO_FAULTS_PG_DOWN_S). The same seed replays the same schedule; a fault
# kind the machine does not allow (no tmpfs mount, no nftables) is left out and named in
# kinds_skipped. Everything the run started is stopped, also on failure (the harness's own
# clean-up). Last line: one JSON object with seed, duration_s, faults_injected, kinds_skipped,
# events, oracle_violations, storms, storm_soak.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${OKNO_BENCH_BUILD:-$root/build-bench}
seed=14 duration=600 storm=5
while [ $# -gt 0 ]; do
    case $1 in
    --quick) duration=90 storm=1 ;;
    --seed) seed=$2; shift ;;
    --duration) duration=$2; shift ;;
    --storm-minutes) storm=$2; shift ;;
    *) echo "bench chaos: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
OKNO_SOURCE_DIR=$root OKNO_BUILD_DIR=$bdir OKNO_FAULTS_PG_DOWN_S=${OKNO_FAULTS_PG_DOWN_S:-60} \
    exec python3 "$root/tests/faults/chaos.py" --seed "$seed" --duration "$duration" \
    --storm-minutes "$storm"
