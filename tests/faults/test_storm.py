"""A rebalance storm (issue 14, scenario 2), on the shared test cluster: for OKNO_FAULTS_STORM_S
seconds (70 by default) ledger and timer instances join and leave their consumer groups every 2
to 5 s, as the seed (OKNO_FAULTS_SEED) plans (storm.py): new instances start, others stop with
SIGTERM or are killed with SIGKILL, at least one of each always running. Meanwhile a steady load
of whole message lives runs, and waves of messages wait in moderation (some accepted on to
coordination a wave later), all on a clock 20,000 times real time, so stage times (2 s) and
answer deadlines (43 s) keep falling due while partitions move between timers. Afterwards the
whole oracle; in particular (g): `okno audit --signals` folds every message with the core and
finds every signal that fell due while its message stayed put (more than storm.GRACE_S, 40 s, before
its next step, or before the audit) recorded, and none twice for one stage visit or deadline."""
import os

from storm import plan, soak

SEED = int(os.environ.get("OKNO_FAULTS_SEED", "14"))
SECONDS = float(os.environ.get("OKNO_FAULTS_STORM_S", "70"))


def test_the_seed_replays_the_same_storm():
    assert plan(SEED, 600) == plan(SEED, 600)
    assert plan(SEED, 600) != plan(SEED + 1, 600)
    assert {a for _, _, a, _ in plan(SEED, 600)} == {"join", "leave", "kill"}
    assert {s for _, s, _, _ in plan(SEED, 600)} == {"ledger", "timer"}


def test_a_rebalance_storm_hands_deadlines_over_without_a_missed_or_repeated_signal(rig):
    summary, violations = soak(rig, SEED, SECONDS)
    assert summary["rebalances"] == summary["steps"] >= SECONDS / 5
    assert min(summary["joins"], summary["leaves"], summary["kills"]) > 0
    assert summary["deadlines_handed_over"] > 0  # partitions moved while deadlines were armed
    assert summary["signals"] > summary["waiting_messages"]  # deadlines fell due in the storm
    assert summary["refused_early_or_twice"] == 0
    assert violations == []
