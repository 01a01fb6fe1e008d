"""Seeded chaos (issue 14, scenario 9): a load runs for a configurable duration on a cluster of
its own, beside waves of messages that wait in moderation while their deadlines fall due (the
ledger and the timer on a clock CHAOS_SPEED times real time), while faults drawn from a seeded
schedule strike one after another: service SIGKILLs, a ledger or relay leader SIGSTOPped, the
broker SIGKILLed, PostgreSQL stopped with -m immediate briefly or for OKNO_FAULTS_PG_DOWN_S,
bursts of hostile records, a rebalance storm of ledgers and timers (storm.py), PostgreSQL's WAL
or the broker's log directory on a full tmpfs, the broker's port cut by an nftables DROP, and
the services' clock stepped back and forward. After the last one everything recovers and the
oracle judges the whole run. The same seed and duration give the same schedule (what strikes,
and when); a kind the machine does not allow (no tmpfs mount, no nftables; or named in
OKNO_FAULTS_CHAOS_DENY) is left out of it and named in `kinds_skipped`, never passed.

    python3 tests/faults/chaos.py [--seed S] [--duration SECONDS] [--storm-minutes M]

prints the schedule and, last, one JSON object: seed, duration_s, faults_injected, events,
oracle_violations (the count of failed oracle checks), kinds_skipped, the storms' rebalances
and deadlines handed over, the signals audited, and the violations themselves. With
--storm-minutes M a rebalance storm of M minutes (storm.soak, test_faults_storm's scenario at
length) follows on a cluster of its own: `storm_soak` in the JSON, its oracle violations
counted in oracle_violations."""
import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faults import HOSTILE_HEADER, WAIT_S, NetCut, Oracle, Rig, SmallDisk, Unavailable, \
    wait_until  # noqa: E402
from storm import Storm, member_settings, soak  # noqa: E402

FAULTS = ("kill_ledger", "kill_relay", "kill_projector", "stop_ledger", "stop_relay",
          "kill_broker", "pg_immediate", "pg_down_long", "hostile_burst", "storm",
          "disk_full_wal", "disk_full_kafka", "net_cut", "clock_step")
# What a kind needs of the machine beyond the cluster itself.
NEEDS = {"disk_full_wal": "tmpfs", "disk_full_kafka": "tmpfs", "net_cut": "nft"}
# The ledger's and the timer's clock, clock ms per real ms: a day in 86 s, so the waiting
# messages' moderation (12 h of a 10-day category) runs out 43 s after submission.
CHAOS_SPEED = 1000
# clock_step: the services' wall clock stepped back by this many ms for the hold, then forward
# again (CHAOS_SPEED times as much clock time). Shorter than the signal grace, so the jump
# forward cannot make a signal that was on time look missed.
CLOCK_STEP_MS = 20000
# storm: members join and leave every STORM_GAP_S seconds for STORM_HOLDS times the hold.
STORM_GAP_S, STORM_HOLDS = (1.0, 3.0), 3
# net_cut: the cut lasts the hold plus this, past the services' socket timeout (10 s).
NET_CUT_EXTRA_S = 10
# Waiting messages: WAVE submitted every WAVE_S seconds, half of each accepted a wave later.
WAVE, WAVE_S = 10, 5
# How long PostgreSQL stays down in pg_down_long, seconds (bench/run chaos: 60).
PG_DOWN_S = float(os.environ.get("OKNO_FAULTS_PG_DOWN_S", "20"))
# Gap between faults, seconds: long enough for a recovery to begin.
GAP_S = (4.0, 10.0)
# Records a second of the background load.
RATE = 1200


def schedule(seed, duration_s, skip=()):
    """[(seconds from the start, fault, hold seconds)]: a pure function of seed and duration.
    Kinds in skip (the machine does not allow them) are left out; the others keep their
    times, so a seed strikes the same faults at the same times on every machine that allows
    them."""
    rng = random.Random(seed)
    out, t = [], rng.uniform(*GAP_S) / 2
    while t < duration_s:
        out.append((round(t, 2), rng.choice(FAULTS), round(rng.uniform(1.0, 6.0), 2)))
        t += rng.uniform(*GAP_S)
    return [f for f in out if f[1] not in skip]


def unavailable_kinds():
    """{kind: reason} for every kind this machine does not allow: probed (a tmpfs mount, an
    nftables table), or denied by OKNO_FAULTS_CHAOS_DENY (comma-separated kinds, to run as a
    machine without them would)."""
    reasons = {}
    for need, probe in (("tmpfs", lambda: SmallDisk("probe", size_mb=1).close()),
                        ("nft", lambda: NetCut(1).close())):
        try:
            probe()
        except Unavailable as e:
            reasons[need] = str(e)
    out = {k: reasons[n] for k, n in NEEDS.items() if n in reasons}
    for kind in filter(None, os.environ.get("OKNO_FAULTS_CHAOS_DENY", "").split(",")):
        if kind not in FAULTS:
            raise SystemExit(f"chaos: OKNO_FAULTS_CHAOS_DENY names no fault kind: {kind}")
        out.setdefault(kind, "denied by OKNO_FAULTS_CHAOS_DENY")
    return out


def hostile_burst(rig):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": rig.s.bootstrap})
    for value in (b"", b"\xc3\x01", b"\xc3\x01" + bytes(8) + b"\xff" * 32, os.urandom(300)):
        p.produce(rig.s.topics["transitions"], key=str(uuid.uuid4()), value=value,
                  headers={HOSTILE_HEADER: "chaos"})
        rig.hostile += 1
    p.flush(30)


class Chaos:
    """What a run keeps between strikes: the small disks, the cut, the clock's step file, the
    storms' tallies."""

    def __init__(self, rig, seed, stack, kinds, disks):
        self.rig, self.seed = rig, seed
        self.storms = {"rebalances": 0, "joins": 0, "leaves": 0, "kills": 0,
                       "deadlines_handed_over": 0}
        self.step_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "clock_step"
        self.step_file.write_text("0\n")
        rig.clock_env["OKNO_CLOCK__STEP_FILE"] = str(self.step_file)
        if disks:
            rig.move_onto(disks)
        if "pg" in disks:
            # Checkpoints often enough that the WAL recycles within its small disk.
            rig.s.sql("alter system set max_wal_size = '64MB'")
            rig.s.sql("select pg_reload_conf()")
        self.cut = stack.enter_context(NetCut(rig.s.bootstrap.rsplit(":", 1)[1])) \
            if "net_cut" in kinds else None

    def storm(self, at, hold_s):
        # Its own seed from the run's and the strike's time: the same storm on every replay.
        storm = Storm(self.rig, self.seed * 100003 + int(at * 100))
        storm.run(hold_s * STORM_HOLDS, gap_s=STORM_GAP_S)
        storm.calm()
        for key, value in storm.summary().items():
            if key in self.storms:
                self.storms[key] += value

    def disk_full(self, which, hold_s):
        disk = self.rig.disks[which]
        print(f"chaos: {which} disk full ({disk.fill()} bytes left)", file=sys.stderr)
        time.sleep(hold_s + 4)
        disk.free()
        self.rig.restart_what_stopped()
        if which == "pg":
            self.rig.s.sql("checkpoint")

    def clock_step(self, hold_s):
        self.step_file.write_text(f"{-CLOCK_STEP_MS}\n")
        time.sleep(hold_s + 1)
        self.step_file.write_text("0\n")


def strike(rig, fault, hold_s, chaos=None, at=0.0):
    """Injects one fault, holds it for hold_s, and starts the recovery."""
    procs = rig.procs
    if fault.startswith("kill_") and fault != "kill_broker":
        service = fault[len("kill_"):]
        os.kill(procs[service].pid, signal.SIGKILL)
        procs[service].wait()
        time.sleep(hold_s)
        rig.restart(service)
    elif fault.startswith("stop_"):
        proc = procs[fault[len("stop_"):]]
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(hold_s)
        os.kill(proc.pid, signal.SIGCONT)
    elif fault == "kill_broker":
        rig.kill_broker()
        time.sleep(hold_s)
        rig.cluster_up()
    elif fault in ("pg_immediate", "pg_down_long"):
        rig.pg_stop_immediate()
        time.sleep(PG_DOWN_S if fault == "pg_down_long" else hold_s)
        rig.cluster_up()
    elif fault == "hostile_burst":
        hostile_burst(rig)
    elif fault == "storm":
        chaos.storm(at, hold_s)
    elif fault in ("disk_full_wal", "disk_full_kafka"):
        chaos.disk_full("pg" if fault == "disk_full_wal" else "kafka", hold_s)
    elif fault == "net_cut":
        chaos.cut.cut()
        time.sleep(hold_s + NET_CUT_EXTRA_S)
        chaos.cut.restore()
    elif fault == "clock_step":
        chaos.clock_step(hold_s)


def configure(rig):
    """The services of a chaos run: static membership (a ledger restarted after a SIGKILL takes
    its partitions back at once), the storm members' short sessions, a 10 s socket timeout
    (a cut link is noticed), and the fast clock."""
    for service in ("ledger", "timer", "relay"):
        rig.service_settings[service] = {"kafka.socket.timeout.ms": 10000}
    for service in ("ledger", "timer"):
        rig.service_settings[service].update(member_settings())
    rig.service_settings["ledger"]["kafka.consumer.group.instance.id"] = "chaos-ledger"
    rig.fast_clock(CHAOS_SPEED)
    # A signal may wait out PostgreSQL's longest outage and the services' reconnection.
    rig.signal_grace_s = max(60.0, PG_DOWN_S + 60.0)


def run(seed, duration_s):
    skipped = unavailable_kinds()
    plan = schedule(seed, duration_s, skip=skipped)
    for kind, reason in sorted(skipped.items()):
        print(f"chaos: {kind} left out of the schedule: {reason}", file=sys.stderr)
    for at, fault, hold in plan:
        print(f"chaos: at {at:7.2f} s {fault} for {hold} s", file=sys.stderr)
    kinds = {f for _, f, _ in plan}
    with contextlib.ExitStack() as stack:  # removes the cut, closes the rig, unmounts the disks
        disks = {}
        if "disk_full_wal" in kinds:
            disks["pg"] = stack.enter_context(SmallDisk("chaos-wal", size_mb=192))
        if "disk_full_kafka" in kinds:
            disks["kafka"] = stack.enter_context(SmallDisk("chaos-kafka",
                                                           size_mb=256 + int(duration_s)))
        rig = Rig(f"chaos{seed}")
        stack.callback(rig.close)
        configure(rig)
        chaos = Chaos(rig, seed, stack, kinds, disks)
        rig.start("ledger", "relay", "projector", "timer")
        rig.spawn("relay")  # a standby
        started = time.monotonic()
        messages = max(100, int(RATE * duration_s / 7.7))
        load = rig.load(messages, RATE, seed)
        waves = []

        def tick():  # one wave when one is due
            if len(waves) <= (time.monotonic() - started) / WAVE_S:
                if waves:
                    rig.accept(waves[-1][: WAVE // 2])
                waves.append(rig.submit(WAVE, category=2,
                                        first_applicant=700000 + len(waves) * WAVE))

        for at, fault, hold in plan:
            tick()
            while (left := at - (time.monotonic() - started)) > 0:
                time.sleep(min(1.0, left))
                tick()
            strike(rig, fault, hold, chaos, at)
        load.finish()
        rig.cluster_up()
        for service, proc in list(rig.procs.items()):
            if proc.poll() is not None:
                rig.restart(service)
        wait_until("every service to be ready after the chaos",
                   lambda: all(rig.ready(p) for p in rig.procs.values()), WAIT_S)
        oracle = Oracle(rig)
        violations = oracle.check()
        audit = getattr(oracle, "last_signals", {})
        return {"seed": seed, "duration_s": duration_s, "faults_injected": len(plan),
                "faults": sorted(kinds), "kinds_skipped": skipped,
                "events": rig.s.scalar("select count(*) from okno.event_log"),
                "oracle_violations": len(violations), "violations": violations[:20],
                "storms": chaos.storms, "waiting_messages": len(waves) * WAVE,
                "signals": audit.get("signals"), "signals_missed": audit.get("missed"),
                "signals_repeated": audit.get("repeated"),
                "run_s": round(time.monotonic() - started, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--storm-minutes", type=float, default=0.0)
    args = ap.parse_args()
    result = run(args.seed, args.duration)
    if args.storm_minutes > 0:
        rig = Rig(f"storm{args.seed}")
        try:
            summary, violations = soak(rig, args.seed, args.storm_minutes * 60)
        finally:
            rig.close()
        result["storm_soak"] = summary
        result["oracle_violations"] += len(violations)
        result["violations"] += violations[:20]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
