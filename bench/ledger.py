"""bench/run ledger: requests produced to Kafka -> committed in the event log, on the real broker
and PostgreSQL of deploy/local (synchronous_commit = on).

1. Sustained throughput: a backlog of requests is produced with the ledger stopped, then one
   ledger drains it; events_per_s = events appended / drain time.
2. Latency: requests paced at about 5,000 events a second for a while; p99 of the ledger's own
   histogram okno_ledger_latency_ms (a record's Kafka timestamp -> its batch's commit).

The last line is one JSON object."""
import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "py"))
from harness import OKNO, Scratch, wait_until  # noqa: E402

# Events per accepted-or-refused record in the load's default mix (measured, see README).
EVENTS_PER_RECORD = 0.89


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def histogram(text, name):
    buckets = [(float(le), float(v)) for le, v in
               re.findall(rf'^{name}_bucket{{le="([^"+]+)"}} (\S+)$', text, re.M)]
    count = float(re.search(rf"^{name}_count (\S+)$", text, re.M).group(1))
    return buckets, count


def quantile(before, after, q):
    """The q-quantile of the observations between two scrapes, interpolated in its bucket."""
    (b0, c0), (b1, c1) = before, after
    total = c1 - c0
    if total <= 0:
        return None
    target, prev_le, prev_n = q * total, 0.0, 0.0
    for (le, n1), (_, n0) in zip(b1, b0):
        n = n1 - n0
        if n >= target:
            return prev_le + (le - prev_le) * (target - prev_n) / max(n - prev_n, 1e-9)
        prev_le, prev_n = le, n
    return float("inf")


def throughput(messages):
    s = Scratch("bench_throughput")
    try:
        expect = s.load("--messages", str(messages), "--seed", "1", "--invalid-permille", "50",
                        "--malformed-permille", "1", "--repeat-permille", "5")
        group = f"ledger-{s.tag}"
        started = time.monotonic()
        s.start_ledger(group)
        wait_until("the ledger to drain the backlog",
                   lambda: s.consumed(group) == expect["records"], timeout_s=1800, every_s=0.05)
        seconds = time.monotonic() - started
        events = s.scalar("select count(*) from okno.event_log")
        assert events == expect["expected_events"]
        return {"events": events, "records": expect["records"], "drain_s": round(seconds, 2),
                "events_per_s": round(events / seconds)}
    finally:
        s.close()


def latency(seconds, events_per_s=5000):
    s = Scratch("bench_latency")
    try:
        group = f"ledger-{s.tag}"
        ledger = s.start_ledger(group)
        rate = int(events_per_s / EVENTS_PER_RECORD)
        messages = int(rate * seconds / 7.7)
        # Warm up: the first records wait for the group's first assignment, which is start-up,
        # not steady-state latency.
        warm = s.load("--messages", "200", "--seed", "3")
        wait_until("the warm-up", lambda: s.consumed(group) == warm["records"])
        before = histogram(metrics(ledger.admin_port), "okno_ledger_latency_ms")
        t0 = time.monotonic()
        out = subprocess.run([str(OKNO), "load", "--bootstrap", s.bootstrap, "--pg",
                              s.app_conninfo, "--topic", s.topics["transitions"], "--messages",
                              str(messages), "--seed", "2", "--rate", str(rate)],
                             capture_output=True, text=True, check=True)
        expect = json.loads(out.stdout.strip().splitlines()[-1])
        wait_until("the ledger to catch up",
                   lambda: s.consumed(group) == warm["records"] + expect["records"])
        elapsed = time.monotonic() - t0
        after = histogram(metrics(ledger.admin_port), "okno_ledger_latency_ms")
        return {"offered_events_per_s": round(expect["expected_events"] / elapsed),
                "p50_ms": round(quantile(before, after, 0.50), 1),
                "p99_ms_at_5k": round(quantile(before, after, 0.99), 1)}
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="a few minutes at most")
    a = p.parse_args()
    result = {"bench": "ledger", "quick": a.quick}
    result.update(throughput(30000 if a.quick else 150000))
    result.update(latency(20 if a.quick else 120))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
