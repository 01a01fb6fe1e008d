"""Seeded chaos (chaos.py) in its short default run: OKNO_FAULTS_CHAOS_S seconds (45 by
default; `bench/run chaos` runs longer) of faults from the schedule of OKNO_FAULTS_SEED (14),
then the oracle over the whole run."""
import json
import os

from chaos import FAULTS, run, schedule

SEED = int(os.environ.get("OKNO_FAULTS_SEED", "14"))
SECONDS = float(os.environ.get("OKNO_FAULTS_CHAOS_S", "45"))


def test_the_seed_replays_the_same_fault_schedule():
    assert schedule(SEED, 600) == schedule(SEED, 600)
    assert schedule(SEED, 600) != schedule(SEED + 1, 600)
    assert {f for _, f, _ in schedule(SEED, 600)} == set(FAULTS)


def test_seeded_chaos_leaves_nothing_for_the_oracle():
    result = run(SEED, SECONDS)
    print(json.dumps(result))
    assert result["faults_injected"] >= 3
    assert result["oracle_violations"] == 0, result["violations"]
