"""bench/run ledger: requests produced to Kafka -> committed in the event log, on the real broker
and PostgreSQL of deploy/local (synchronous_commit = on).

1. Sustained throughput: a backlog of requests is produced with the ledger stopped, then one
   ledger drains it; events_per_s = events appended / drain time.
2. Latency: requests paced at about 5,000 events a second for a while; p99 of the ledger's own
   histogram okno_ledger_latency_ms (a record's Kafka timestamp -> its batch's commit).

Floors measured in the same run, so that the figures read as a share of the limit:
3. pg_intake_events_per_s: PostgreSQL's bare intake of the rows the ledger wrote in (1): the
   event log, request ids, refusals and stream heads, taken out with COPY BINARY and put into
   a fresh database with the same tables, indexes and triggers by COPY BINARY, as the owner, one
   transaction, timed; events / seconds. (Heads go in once per message, where the ledger upserts
   them once per batch that touches the message: the floor is, if anything, optimistic.)
4. kafka_p50_ms, kafka_p99_ms: Kafka alone at the same rate with the same producer (`okno load`
   into a topic of its own) and a librdkafka consumer taking each record as it arrives: a record's
   timestamp -> its arrival at the consumer (the ledger's fetch settings, a blocking poll).

Before the ledger's latency window its own paced load runs in rounds until the broker's JIT
compilers are quiet (bench/warm.py: a broker that has just started compiles its request paths for
minutes of load, several times slower meanwhile); broker_warmup_s says how long that took, and
broker_jit_cores_latency / _floor the compilers' share of a core during each window.

Both latency windows (the ledger's and Kafka alone's) begin after a warm-up: `okno load --warmup`
starts its producer and produces at the same rate for WARMUP_S seconds (and until Kafka has
acknowledged a record) before the window, and says when the window begins. The idempotent
producer's first delivery waits about 500 ms for its producer id; without the warm-up the records
produced meanwhile were counted, and set both p99s (Kafka alone's ~830 ms).

The last line is one JSON object."""
import argparse
import os
import tempfile
import threading
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "py"))
from confluent_kafka import Consumer  # noqa: E402
from harness import OKNO, Scratch, wait_until  # noqa: E402
from warm import JitMeter  # noqa: E402
from warm import warm as warm_broker  # noqa: E402

# Events per accepted-or-refused record in the load's default mix (measured, see README).
EVENTS_PER_RECORD = 0.89
# Seconds the producer runs at the window's rate before the window begins.
WARMUP_S = 5
# At most this long of the window's load before it, until the broker's JIT is done (warm.py).
WARM_MAX_S = 120


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


def committed(port):
    """Records the ledger has committed (each observed once in its latency histogram after its
    batch's commit), read from its /metrics: one HTTP request to the ledger instead of a psql
    process with a SCRAM login every poll, which on two cores took CPU from the measured run."""
    return histogram(metrics(port), "okno_ledger_latency_ms")[1]


def throughput(messages):
    s = Scratch("bench_throughput")
    try:
        expect = s.load("--messages", str(messages), "--seed", "1", "--invalid-permille", "50",
                        "--malformed-permille", "1", "--repeat-permille", "5")
        group = f"ledger-{s.tag}"
        started = time.monotonic()
        ledger = s.start_ledger(group)
        wait_until("the ledger to drain the backlog",
                   lambda: committed(ledger.admin_port) >= expect["records"], timeout_s=1800,
                   every_s=0.05)
        seconds = time.monotonic() - started
        assert s.consumed(group) == expect["records"]
        events = s.scalar("select count(*) from okno.event_log")
        assert events == expect["expected_events"]
        intake_s = pg_intake(s)
        return {"events": events, "records": expect["records"], "drain_s": round(seconds, 2),
                "events_per_s": round(events / seconds),
                "pg_intake_s": round(intake_s, 2),
                "pg_intake_events_per_s": round(events / intake_s),
                "share_of_pg_intake": round((events / seconds) / (events / intake_s), 3)}
    finally:
        s.close()


# The rows the ledger writes, by table: the columns it sets (tx and position come from their
# defaults, as for the ledger, whose role may not set them).
LEDGER_ROWS = {
    "okno.event_log": "message_id, seq, request_id, event_type, occurred_at, actor_user, org, "
                      "body, prev_hash, hash",
    "okno.requests": "request_id, message_id, accepted, events, at",
    "okno.refusals": "request_id, message_id, reason_code, message, source_topic, "
                     "source_partition, source_offset, body, at",
    "okno.stream_heads": "message_id, seq, hash, kafka_partition, state_version, state, "
                         "updated_at",
}


def pg_intake(source):
    """Seconds PostgreSQL takes to COPY BINARY the ledger's rows from `source` into a fresh
    database with the same schema, in one transaction (the copy-out is not timed)."""
    target = Scratch("bench_intake", partitions=1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            copy_in = ["begin;"]
            for table, cols in LEDGER_ROWS.items():
                path = os.path.join(tmp, table)
                subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", source.admin_conninfo,
                                "-c", f"\\copy (select {cols} from {table}) to '{path}' "
                                      "with (format binary)"], check=True)
                copy_in.append(f"\\copy {table} ({cols}) from '{path}' with (format binary)")
            copy_in.append("commit;")
            script = os.path.join(tmp, "intake.sql")
            with open(script, "w") as f:
                f.write("\n".join(copy_in) + "\n")
            t0 = time.monotonic()
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", target.admin_conninfo,
                            "-f", script], check=True)
            return time.monotonic() - t0
    finally:
        target.close()


def paced_load(s, seconds, rate, at_window):
    """`okno load` at `rate` records a second: WARMUP_S seconds of warm-up, then `seconds` of
    window; at_window(start_ms) is called when the window begins. Returns load's summary."""
    messages = int(rate * (seconds + WARMUP_S) / 7.7)
    proc = subprocess.Popen([str(OKNO), "load", "--bootstrap", s.bootstrap, "--pg",
                             s.app_conninfo, "--topic", s.topics["transitions"], "--messages",
                             str(messages), "--seed", "2", "--rate", str(rate), "--warmup",
                             str(WARMUP_S)], stdout=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        obj = json.loads(line)
        if "window_start_ms" in obj and "records" not in obj:
            at_window(obj["window_start_ms"])
    if proc.wait() != 0:
        raise RuntimeError(f"okno load failed ({proc.returncode})")
    return json.loads(lines[-1])


def quiesce(s):
    """Before a latency window: a checkpoint, then the kernel's dirty pages written out, so that
    neither PostgreSQL's checkpoint (the previous phase's DROP DATABASE asks for an immediate
    one) nor the page cache's writeback of it stalls the broker or the database inside the
    window."""
    s.sql("checkpoint")
    os.sync()


def latency(seconds, events_per_s=5000):
    s = Scratch("bench_latency")
    try:
        # The throughput run and the intake floor before this wrote a few hundred MB of WAL: a
        # checkpoint now, so that none falls inside the latency window (its fsyncs stall commits
        # for up to a second and would be counted as the ledger's tail).
        quiesce(s)
        group = f"ledger-{s.tag}"
        ledger = s.start_ledger(group)
        rate = int(events_per_s / EVENTS_PER_RECORD)
        # Warm up: the first records wait for the group's first assignment, which is start-up,
        # not steady-state latency.
        warm = s.load("--messages", "200", "--seed", "3")
        wait_until("the warm-up", lambda: committed(ledger.admin_port) >= warm["records"])
        # Then the window's own load until the broker's JIT is done with it (bench/warm.py);
        # each round's messages are new (a seed of its own).
        seeds = iter(range(100, 1000))

        def paced_round(secs):
            done = s.load("--messages", str(max(1, int(rate * secs / 7.7))), "--rate", str(rate),
                          "--seed", str(next(seeds)))
            warm["records"] += done["records"]
        warmed = warm_broker(paced_round, 5, WARM_MAX_S, lambda line: print(line, file=sys.stderr))
        wait_until("the warm-up", lambda: committed(ledger.admin_port) >= warm["records"])
        quiesce(s)  # the warm-up's WAL and dirty pages out before the window
        # The window's observations: those after the producer's warm-up (the records in
        # flight at that moment, a few milliseconds' worth, are counted with the window).
        window = {}

        jit = JitMeter()

        def at_window(start_ms):
            window["before"] = histogram(metrics(ledger.admin_port), "okno_ledger_latency_ms")
            window["t0"] = time.monotonic()
            jit.start()
        expect = paced_load(s, seconds, rate, at_window)
        jit_window = jit.cores()
        before, t0 = window["before"], window["t0"]
        wait_until("the ledger to catch up",
                   lambda: committed(ledger.admin_port) >= warm["records"] + expect["records"],
                   every_s=0.05)
        elapsed = time.monotonic() - t0
        after = histogram(metrics(ledger.admin_port), "okno_ledger_latency_ms")
        assert s.consumed(group) == warm["records"] + expect["records"]
        window_records = expect["records"] - expect["warmup_records"]
        return {"offered_events_per_s": round(window_records * EVENTS_PER_RECORD / elapsed),
                "p50_ms": round(quantile(before, after, 0.50), 1),
                "p99_ms_at_5k": round(quantile(before, after, 0.99), 1),
                "broker_warmup_s": warmed["broker_warmup_s"],
                "broker_jit_cores_latency": jit_window}
    finally:
        s.close()


def kafka_floor(seconds, events_per_s=5000):
    """Kafka alone: `okno load` paced as in latency() into a topic of its own, consumed by a
    librdkafka consumer that takes each record as it arrives; record timestamp -> arrival, ms."""
    s = Scratch("bench_kafka_floor")
    try:
        topic = s.topics["transitions"]
        # The ledger's fetch settings (librdkafka's defaults, read_committed). poll() returns
        # as soon as one record is there; it blocks in librdkafka, so the floor's consumer does
        # not spin on a core the broker needs (a poll(0) loop did, and inflated its tail).
        consumer = Consumer({"bootstrap.servers": s.bootstrap, "group.id": f"floor-{s.tag}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False,
                             "isolation.level": "read_committed"})
        consumer.subscribe([topic])
        lat, done = [], threading.Event()

        def consume():
            while not done.is_set():
                m = consumer.poll(0.1)
                if m is not None and m.error() is None:
                    lat.append((time.time() * 1000 - m.timestamp()[1], m.timestamp()[1]))
        rate = int(events_per_s / EVENTS_PER_RECORD)
        quiesce(s)
        warm = s.load("--messages", "200", "--seed", "3")
        t = threading.Thread(target=consume)
        t.start()
        wait_until("the floor consumer's warm-up", lambda: len(lat) >= warm["records"])
        lat.clear()
        jit = JitMeter()
        expect = paced_load(s, seconds, rate, lambda start_ms: jit.start())
        jit_floor = jit.cores()
        wait_until("the floor consumer to catch up", lambda: len(lat) >= expect["records"])
        done.set()
        t.join()
        consumer.close()
        # The window: records produced after the producer's warm-up.
        lat = [(ms, ts) for ms, ts in lat if ts >= expect["window_start_ms"]]
        # Where the tail lies: the seconds of the run in which some record took over 100 ms. A
        # tail from a few such seconds is a stall of the machine (the broker and everything
        # else stopped at once), one spread over the run is the path's own.
        slow = sorted({int(ts // 1000) for ms, ts in lat if ms > 100})
        lat = sorted(ms for ms, _ in lat)
        return {"kafka_p50_ms": round(lat[len(lat) // 2], 1),
                "kafka_p99_ms": round(lat[int(len(lat) * 0.99)], 1),
                "kafka_max_ms": round(lat[-1], 1),
                "kafka_seconds_over_100ms": len(slow), "broker_jit_cores_floor": jit_floor}
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="a few minutes at most")
    a = p.parse_args()
    result = {"bench": "ledger", "quick": a.quick}
    result.update(throughput(30000 if a.quick else 150000))
    result.update(latency(20 if a.quick else 120))
    result.update(kafka_floor(20 if a.quick else 120))
    result["latency_overhead_p50_ms"] = round(result["p50_ms"] - result["kafka_p50_ms"], 1)
    result["latency_overhead_p99_ms"] = round(result["p99_ms_at_5k"] - result["kafka_p99_ms"], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
