"""bench/run e2e: okno against the connector users would pick instead, on the same events.

1. okno: a backlog of requests (`okno load`) drained by one ledger, which validates each request
   with the workflow core, hash-chains the events and stores them with their request ids,
   refusals, stream heads and consumed offsets in one transaction a batch; events_per_s =
   events appended / (last batch's transaction time - first's: okno.requests.at), so the
   ledger's start-up is not counted, as for the peer. The relay then publishes the events to
   the scratch okno.events.v1.
2. A converter (not timed) re-publishes every okno.events.v1 record as JSON with its schema
   inline (Kafka Connect's JsonConverter envelope) to a topic with as many partitions, keyed
   by message id: the event log row's fields and the Avro body as bytes.
3. The peer: Apache Kafka's Connect runtime (standalone worker, jars from Maven:
   deploy/kafka-connect/pom.xml) with the Debezium JDBC sink connector upserting one row per
   record into a table keyed (message_id, seq), configured as deploy/kafka-connect/*.properties
   say. peer_events_per_s = rows / (last row's insert time - first row's), each row stamped
   by clock_timestamp() as PostgreSQL inserts it (the worker's start-up is not counted).

The peer guarantees at-least-once delivery and idempotence by key (a redelivered record upserts
the same row); it validates nothing but the schema's types, keeps no hash chain, and commits
its consumer offsets to Kafka apart from the rows. The last line is one JSON object."""
import argparse
import base64
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "py"))
from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from harness import ROOT, Scratch, decode, schemas_by_fingerprint, wait_until  # noqa: E402

import ledger as ledger_bench  # noqa: E402  (bench/ledger.py: the ledger's /metrics)

CONNECT_DIR = ROOT / "deploy" / "kafka-connect"
PARTITIONS = 8

# The JSON records' schema (JsonConverter's envelope): the event log row's fields.
FIELDS = [("message_id", "string", False), ("seq", "int32", False),
          ("request_id", "string", False), ("event_type", "string", False),
          ("occurred_at_ms", "int64", False), ("actor_user_id", "int64", True),
          ("holding_org_after", "int64", True), ("body", "bytes", False)]
SCHEMA = {"type": "struct", "name": "okno.peer.Event", "optional": False,
          "fields": [{"field": f, "type": t, "optional": o} for f, t, o in FIELDS]}
TABLE = """create table peer_events (
    message_id text not null, seq int not null, request_id text not null,
    event_type text not null, occurred_at_ms bigint not null, actor_user_id bigint,
    holding_org_after bigint, body bytea not null,
    sunk_at timestamptz not null default clock_timestamp(),
    primary key (message_id, seq))"""


def java():
    out = subprocess.run(["bash", "-c", f". '{ROOT}/deploy/lib.sh' && okno_java"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def classpath():
    """The Connect runtime's and the sink's jars, resolved once into .work/kafka-connect."""
    work = ROOT / ".work" / "kafka-connect"
    cp = work / "classpath.txt"
    if not cp.exists() or cp.stat().st_size == 0:
        work.mkdir(parents=True, exist_ok=True)
        print("e2e bench: resolving Kafka Connect and the Debezium JDBC sink with Maven",
              file=sys.stderr)
        with open(work / "mvn.log", "w") as log:
            subprocess.run(["mvn", "-q", "-B", "-f", str(CONNECT_DIR / "pom.xml"),
                            "dependency:build-classpath", f"-Dmdep.outputFile={cp}"],
                           stdout=log, stderr=log, check=True)
    return cp.read_text().strip()


def millis(v):
    if isinstance(v, datetime.datetime):
        return int(v.timestamp() * 1000)
    return int(v)


def uuid_text(raw):
    import uuid
    return str(uuid.UUID(bytes=raw))


def convert(s, source, target, expect):
    """Every record of `source` (Avro Event) to `target` as JSON with its schema; returns how
    many."""
    schemas = schemas_by_fingerprint()
    consumer = Consumer({"bootstrap.servers": s.bootstrap, "group.id": f"convert-{s.tag}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([source])
    producer = Producer({"bootstrap.servers": s.bootstrap, "linger.ms": 20,
                         "partitioner": "murmur2_random", "acks": "all"})
    done, deadline = 0, time.monotonic() + 600
    while done < expect and time.monotonic() < deadline:
        for m in consumer.consume(1000, 0.5):
            if m.error() is not None:
                continue
            _, e = decode(m.value(), schemas)
            payload = {"message_id": uuid_text(e["message_id"]), "seq": e["seq"],
                       "request_id": uuid_text(e["request_id"]),
                       "event_type": e["type"], "occurred_at_ms": millis(e["occurred_at"]),
                       "actor_user_id": e.get("actor_user_id"),
                       "holding_org_after": e.get("holding_org_after"),
                       "body": base64.b64encode(m.value()).decode()}
            value = json.dumps({"schema": SCHEMA, "payload": payload}).encode()
            while True:
                try:
                    producer.produce(target, value=value, key=payload["message_id"].encode())
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            done += 1
    producer.flush(60)
    consumer.close()
    return done


def fill(template, values):
    text = template.read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    return text


def okno_side(s, messages):
    expect = s.load("--messages", str(messages), "--seed", "1")
    group = f"ledger-{s.tag}"
    started = time.monotonic()
    ledger = s.start_ledger(group)
    wait_until("the ledger to drain the backlog",
               lambda: ledger_bench.committed(ledger.admin_port) >= expect["records"],
               timeout_s=1800, every_s=0.05)
    wall = time.monotonic() - started
    events = s.scalar("select count(*) from okno.event_log")
    assert events == expect["expected_events"]
    # As for the peer, from the first commit to the last (each batch's transaction time), so
    # neither side's start-up is counted.
    span = float(s.sql("select extract(epoch from max(at) - min(at)) from okno.requests")[0][0])
    return events, span, wall


def peer_side(s, events, work):
    topic = f"okno.test.{s.tag}.events_json"
    admin = AdminClient({"bootstrap.servers": s.bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(30)
    try:
        converted = convert(s, s.topics["events"], topic, events)
        assert converted == events, f"converted {converted} of {events} events"
        s.sql(TABLE)
        pg = dict(p.split("=", 1) for p in s.env["OKNO_PG_ADMIN_CONNINFO"].split())
        values = {"BOOTSTRAP": s.bootstrap, "WORK": work, "REST_PORT": free_port(),
                  "TASKS": PARTITIONS, "TOPIC": topic, "PG_PORT": pg["port"], "DB": s.db,
                  "PG_USER": pg["user"], "PG_PASSWORD": pg["password"]}
        worker, sink = Path(work) / "worker.properties", Path(work) / "jdbc-sink.properties"
        worker.write_text(fill(CONNECT_DIR / "worker.properties", values))
        sink.write_text(fill(CONNECT_DIR / "jdbc-sink.properties", values))
        log = open(Path(work) / "connect.out", "wb")
        proc = subprocess.Popen(
            [java(), "-Xms512m", "-Xmx1g", "-XX:+UseG1GC",
             f"-Dlog4j.configuration=file:{ROOT}/deploy/kafka/log4j.properties",
             f"-Dkafka.logs.dir={work}", "-cp", classpath(),
             "org.apache.kafka.connect.cli.ConnectStandalone", str(worker), str(sink)],
            stdout=log, stderr=log, start_new_session=True)
        try:
            def sunk():
                assert proc.poll() is None, f"Kafka Connect exited; see {work}/server.log"
                return s.scalar("select count(*) from peer_events") >= events
            wait_until("the JDBC sink to write every event", sunk, timeout_s=1800, every_s=1)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        rows = s.scalar("select count(*) from peer_events")
        span = float(s.sql("select extract(epoch from max(sunk_at) - min(sunk_at)) "
                           "from peer_events")[0][0])
        return rows, span
    finally:
        admin.delete_topics([topic])


def free_port():
    import socket
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="a few minutes at most")
    a = p.parse_args()
    # A SIGTERM (a timeout, bench/run interrupted) unwinds like an exception, so the finally
    # clauses stop the Connect worker and drop the scratch database and topics.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    messages = 10000 if a.quick else 60000
    classpath()  # resolve before anything is timed
    s = Scratch("bench_e2e")
    work = tempfile.mkdtemp(prefix="okno-e2e-")
    try:
        events, okno_s, okno_wall = okno_side(s, messages)
        s.start_relay()
        rows, peer_s = peer_side(s, events, work)
        okno_eps = events / okno_s
        peer_eps = rows / peer_s
        print(json.dumps({"bench": "e2e", "quick": a.quick, "events": events,
                          "events_per_s": round(okno_eps), "okno_seconds": round(okno_s, 2),
                          "okno_seconds_with_start": round(okno_wall, 2),
                          "peer_rows": rows, "peer_seconds": round(peer_s, 2),
                          "peer_events_per_s": round(peer_eps),
                          "ratio_vs_peer": round(okno_eps / peer_eps, 2),
                          "peer": "Kafka Connect 3.9.1 standalone + Debezium JDBC sink 3.5.0 "
                                  f"(upsert, {PARTITIONS} tasks, batch.size 2000)",
                          "peer_guarantees": "at-least-once, idempotent upsert by key; "
                                             "no validation, no hash chain, offsets in Kafka"}))
    finally:
        s.close()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
