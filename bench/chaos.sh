#!/usr/bin/env bash
# Seeded chaos (run as `bench/run chaos [--quick] [--seed S] [--duration SECONDS]`): a load on
# a cluster of its own while faults from the seed's schedule strike (tests/faults/chaos.py:
# service SIGKILLs and SIGSTOPs, the broker SIGKILLed, PostgreSQL stopped with -m immediate and
# staying down, hostile records), then the oracle over the whole run. 600 s by default
# (--quick: 90 s); PostgreSQL's long outage holds 60 s (OKNO_FAULTS_PG_DOWN_S). The same seed
# replays the same schedule. Everything the run started is stopped, also on failure (the
# harness's own clean-up). Last line: one JSON object with seed, duration_s, faults_injected,
# events and oracle_violations.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${OKNO_BENCH_BUILD:-$root/build-bench}
seed=14 duration=600
while [ $# -gt 0 ]; do
    case $1 in
    --quick) duration=90 ;;
    --seed) seed=$2; shift ;;
    --duration) duration=$2; shift ;;
    *) echo "bench chaos: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
OKNO_SOURCE_DIR=$root OKNO_BUILD_DIR=$bdir OKNO_FAULTS_PG_DOWN_S=${OKNO_FAULTS_PG_DOWN_S:-60} \
    exec python3 "$root/tests/faults/chaos.py" --seed "$seed" --duration "$duration"
