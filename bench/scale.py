"""bench/run scale [--quick]: okno on three Kafka brokers (issue 15), in a cluster of its own
(`deploy/local/up --brokers 3` in a scratch working folder: three KRaft voters, 24 partitions,
replication 3, min.insync.replicas=2, producers with acks=all).

1. For 1, 2 and 3 ledger instances in one consumer group, on scratch topics of 24 partitions:
   - throughput: a backlog of whole message lives produced with the ledgers stopped, then the
     instances drain it together; events_per_s = events appended / drain time;
   - latency: requests paced at about 2,000 events a second; p50 and p99 of the instances'
     okno_ledger_latency_ms histograms summed (a record's Kafka timestamp -> its batch's commit);
   - correctness after each: the event log holds exactly the events `okno load` predicted,
     without gaps or duplicates, and `okno verify` passes.
   The one-instance figures are the floor the others compare with: on two cores more instances
   mostly share the same CPU, so the point is that correctness holds and nothing regresses.
2. The oracle while one of the three brokers is SIGKILLed under load (the broker leading the
   requests' partition 0) and restarted: no acknowledged event lost, exactly the predicted
   events in the log, every one of them on okno.events.v1 through the relay, and the restarted
   broker back in every ISR.
--quick: smaller backlogs and shorter paced runs. Last line: one JSON object."""
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "py"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import OKNO, LocalCluster, Scratch, distinct_events, wait_until  # noqa: E402
from ledger import EVENTS_PER_RECORD, histogram, metrics, quantile  # noqa: E402

PARTITIONS = 24


def say(*args):
    print("bench scale:", *args, file=sys.stderr, flush=True)


def exact(s, expect):
    """The event log holds exactly the predicted events, no gap, no duplicate; okno verify."""
    events = s.scalar("select count(*) from okno.event_log")
    gaps = s.scalar("select count(*) from (select message_id from okno.event_log group by 1 "
                    "having max(seq) <> count(*) or min(seq) <> 1) g")
    verify = subprocess.run([str(OKNO), "verify", "--pg", s.admin_conninfo],
                            capture_output=True, text=True).returncode == 0
    ok = events == expect["expected_events"] and gaps == 0 and verify
    if not ok:
        say(f"NOT EXACT: {events} events of {expect['expected_events']}, {gaps} gaps, "
            f"verify {'passed' if verify else 'failed'}")
    return ok


def ms(q):
    """A quantile for the JSON: null when it lies beyond the histogram's last bucket."""
    return None if q is None or q == float("inf") else round(q, 1)


def summed(ledgers):
    """The instances' latency histograms added up."""
    parts = [histogram(metrics(p.admin_port), "okno_ledger_latency_ms") for p in ledgers]
    buckets = [(le, sum(h[0][i][1] for h in parts)) for i, (le, _) in enumerate(parts[0][0])]
    return buckets, sum(h[1] for h in parts)


def instances(k, messages, seconds, events_per_s=2000):
    s = Scratch(f"bench_scale_{k}", partitions=PARTITIONS, replication=3)
    try:
        group = f"ledger-{s.tag}"
        expect = s.load("--messages", str(messages), "--seed", "1")
        started = time.monotonic()
        ledgers = [s.start_ledger(group) for _ in range(k)]
        wait_until("the ledgers to drain the backlog",
                   lambda: s.consumed(group) == expect["records"], timeout_s=1800, every_s=0.05)
        drain_s = time.monotonic() - started
        ok = exact(s, expect)
        rate = int(events_per_s / EVENTS_PER_RECORD)
        before = summed(ledgers)
        t0 = time.monotonic()
        out = subprocess.run([str(OKNO), "load", "--bootstrap", s.bootstrap, "--pg",
                              s.app_conninfo, "--topic", s.topics["transitions"], "--messages",
                              str(int(rate * seconds / 7.7)), "--seed", "2", "--rate", str(rate)],
                             capture_output=True, text=True, check=True)
        paced = json.loads(out.stdout.strip().splitlines()[-1])
        wait_until("the ledgers to catch up",
                   lambda: s.consumed(group) == expect["records"] + paced["records"])
        elapsed = time.monotonic() - t0
        after = summed(ledgers)
        both = {k2: expect[k2] + paced[k2] for k2 in ("expected_events",)}
        ok = ok and exact(s, both)
        return {"events": expect["expected_events"], "drain_s": round(drain_s, 2),
                "events_per_s": round(expect["expected_events"] / drain_s),
                "offered_events_per_s": round(paced["expected_events"] / elapsed),
                "p50_ms": ms(quantile(before, after, 0.50)),
                "p99_ms": ms(quantile(before, after, 0.99)), "exact": ok}
    finally:
        s.close()


def broker_killed(cluster, messages, rate):
    s = Scratch("bench_scale_kill", partitions=PARTITIONS, replication=3)
    try:
        group = f"ledger-{s.tag}"
        for _ in range(2):
            s.start_ledger(group)
        s.start_relay()
        victim = s.requests_leader()
        loader = s.load_started("--messages", str(messages), "--seed", "15", "--rate", str(rate))
        time.sleep(3)
        cluster.kill_broker(victim)
        killed = time.monotonic()
        time.sleep(5)
        cluster.up()  # restarts the dead broker
        restarted_after_s = time.monotonic() - killed
        out, _ = loader.communicate(timeout=1800)
        acknowledged = loader.returncode == 0
        expect = json.loads(out.strip().splitlines()[-1])
        wait_until("the ledgers to consume every record",
                   lambda: s.consumed(group) == expect["records"], timeout_s=600)
        ok = exact(s, expect)
        events = expect["expected_events"]
        on_topic = distinct_events(s.bootstrap, s.topics["events"], events, timeout_s=300)
        return {"broker": victim, "restart_done_after_s": round(restarted_after_s, 1),
                "load_acknowledged": acknowledged, "events": events,
                "events_on_topic": on_topic, "lost": events - on_topic,
                "exact": ok and acknowledged and on_topic == events}
    finally:
        s.close()


def main():
    quick = "--quick" in sys.argv[1:]
    backlog, seconds = (3000, 8) if quick else (20000, 30)
    cluster = LocalCluster("bench-scale", "--brokers", "3")
    try:
        figures = {}
        for k in (1, 2, 3):
            say(f"{k} ledger instance(s)")
            figures[str(k)] = instances(k, backlog, seconds)
            say(json.dumps(figures[str(k)]))
        say("one of three brokers SIGKILLed under load, restarted 5 s later")
        kill = broker_killed(cluster, 1500 if quick else 6000, 1500)
        say(json.dumps(kill))
    finally:
        cluster.close()
    print(json.dumps({"bench": "scale", "quick": quick, "brokers": 3, "partitions": PARTITIONS,
                      "ledgers": figures, "broker_killed": kill,
                      "exact": all(f["exact"] for f in figures.values()) and kill["exact"]}))


if __name__ == "__main__":
    main()
