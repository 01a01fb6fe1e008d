"""Seeded chaos (issue 14, scenario 9): a load runs for a configurable duration on a cluster of
its own while faults drawn from a seeded schedule strike one after another (service SIGKILLs, a
ledger or relay leader SIGSTOPped, the broker SIGKILLed, PostgreSQL stopped with -m immediate
briefly or for OKNO_FAULTS_PG_DOWN_S, bursts of hostile records); after the last one everything recovers and the oracle judges the
whole run. The same seed and duration give the same schedule (what strikes, and when).

    python3 tests/faults/chaos.py [--seed S] [--duration SECONDS]

prints the schedule and, last, one JSON object: seed, duration_s, faults_injected, events,
oracle_violations (the count of failed oracle checks) and the violations themselves."""
import argparse
import json
import os
import random
import signal
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faults import HOSTILE_HEADER, Oracle, Rig, wait_until  # noqa: E402

FAULTS = ("kill_ledger", "kill_relay", "kill_projector", "stop_ledger", "stop_relay",
          "kill_broker", "pg_immediate", "pg_down_long", "hostile_burst")
# How long PostgreSQL stays down in pg_down_long, seconds (bench/run chaos: 60).
PG_DOWN_S = float(os.environ.get("OKNO_FAULTS_PG_DOWN_S", "20"))
# Gap between faults, seconds: long enough for a recovery to begin.
GAP_S = (4.0, 10.0)
# Records a second of the background load.
RATE = 1200


def schedule(seed, duration_s):
    """[(seconds from the start, fault, hold seconds)]: a pure function of seed and duration."""
    rng = random.Random(seed)
    out, t = [], rng.uniform(*GAP_S) / 2
    while t < duration_s:
        out.append((round(t, 2), rng.choice(FAULTS), round(rng.uniform(1.0, 6.0), 2)))
        t += rng.uniform(*GAP_S)
    return out


def hostile_burst(rig):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": rig.s.bootstrap})
    for value in (b"", b"\xc3\x01", b"\xc3\x01" + bytes(8) + b"\xff" * 32, os.urandom(300)):
        p.produce(rig.s.topics["transitions"], key=str(uuid.uuid4()), value=value,
                  headers={HOSTILE_HEADER: "chaos"})
        rig.hostile += 1
    p.flush(30)


def strike(rig, fault, hold_s):
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


def run(seed, duration_s, rig=None):
    own = rig is None
    rig = rig or Rig(f"chaos{seed}")
    started = time.monotonic()
    try:
        # Static membership: a ledger restarted after a SIGKILL takes its partitions back at once.
        rig.service_settings["ledger"] = {"kafka.consumer.group.instance.id": "chaos-ledger"}
        rig.start("ledger", "relay", "projector")
        rig.spawn("relay")  # a standby
        plan = schedule(seed, duration_s)
        for at, fault, hold in plan:
            print(f"chaos: at {at:7.2f} s {fault} for {hold} s", file=sys.stderr)
        messages = max(100, int(RATE * duration_s / 7.7))
        load = rig.load(messages, RATE, seed)
        for at, fault, hold in plan:
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            strike(rig, fault, hold)
        load.finish()
        rig.cluster_up()
        for service, proc in list(rig.procs.items()):
            if proc.poll() is not None:
                rig.restart(service)
        wait_until("every service to be ready after the chaos",
                   lambda: all(rig.ready(p) for p in rig.procs.values()), 120)
        violations = Oracle(rig).check()
        return {"seed": seed, "duration_s": duration_s, "faults_injected": len(plan),
                "faults": sorted({f for _, f, _ in plan}),
                "events": rig.s.scalar("select count(*) from okno.event_log"),
                "oracle_violations": len(violations), "violations": violations[:20],
                "run_s": round(time.monotonic() - started, 1)}
    finally:
        if own:
            rig.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    print(json.dumps(run(args.seed, args.duration)))


if __name__ == "__main__":
    main()
