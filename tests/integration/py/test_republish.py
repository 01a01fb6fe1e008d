"""`okno republish` (issue 15): the event log published again for a consumer that joins late.
A scratch database gets a workload through the real ledger and relay; republished from the start,
the new topic holds exactly what the relay put on the events topic: per partition the same
records in the same order, with the same keys, value bytes and headers. From a log position or
a time it holds the log from that event on, in log order; bad input is refused with a clear
error and publishes nothing."""
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import OKNO, WAIT_S, Scratch, okno, wait_until
from test_ledger import caught_up

PARTITIONS = 8


@pytest.fixture(scope="module")
def s():
    scratch = Scratch("republish", partitions=PARTITIONS)
    targets = []
    scratch.new_topic = lambda: new_topic(scratch, targets)
    try:
        group = f"ledger-{scratch.tag}"
        scratch.start_ledger(group)
        scratch.start_relay()
        expect = scratch.load("--messages", "300", "--seed", "1515")
        wait_until("the ledger to consume every record",
                   lambda: caught_up(scratch, group, expect["records"]))
        scratch.events = expect["expected_events"]
        wait_until("the relay to publish every event",
                   lambda: len(flat(records(scratch.bootstrap, scratch.topics["events"]))) ==
                   scratch.events, timeout_s=WAIT_S)
        yield scratch
    finally:
        if targets:
            AdminClient({"bootstrap.servers": scratch.bootstrap}).delete_topics(targets)
        scratch.close()


def new_topic(s, targets):
    name = f"okno.test.{s.tag}.republished.{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": s.bootstrap})
    for f in admin.create_topics([NewTopic(name, PARTITIONS, 1)]).values():
        f.result(30)
    targets.append(name)
    return name


def records(bootstrap, topic):
    """Every record of topic: {partition: [(key, value, headers), ...]} in offset order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    out = {}
    for p in range(PARTITIONS):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        if high <= low:
            continue
        consumer.assign([TopicPartition(topic, p, low)])
        got = []
        while len(got) < high - low:
            for m in consumer.consume(1000, 1.0):
                if m.error() is None:
                    got.append((m.key(), m.value(), tuple(m.headers() or ())))
        out[p] = got
    consumer.close()
    return out


def flat(by_partition):
    return [r for p in sorted(by_partition) for r in by_partition[p]]


def republish(s, *args):
    out = okno("republish", "--bootstrap", s.bootstrap, "--pg", s.app_conninfo, *args)
    return out.strip().splitlines()[-1]


def log_rows(s, where=""):
    """(key, body) of the log's rows in log order."""
    rows = s.sql("select message_id::text, encode(body, 'hex') from okno.event_log "
                 f"{where} order by tx, position")
    return [(k.encode(), bytes.fromhex(b)) for k, b in rows]


def test_republished_from_the_start_equals_the_events_topic(s):
    target = s.new_topic()
    summary = republish(s, "--from", "0", "--topic", target)
    assert f'"records":{s.events}' in summary
    original = records(s.bootstrap, s.topics["events"])
    again = records(s.bootstrap, target)
    assert len(flat(original)) == s.events
    assert again == original  # per partition: same keys, value bytes, headers, order


def test_republished_from_a_position_is_the_log_from_that_event_on_in_log_order(s):
    rows = s.sql("select position, occurred_at from okno.event_log order by tx, position")
    k = len(rows) // 3
    position = rows[k][0]
    target = s.new_topic()
    summary = republish(s, "--from", position, "--topic", target)
    assert f'"records":{len(rows) - k}' in summary and f'"first_position":{position}' in summary
    expect = log_rows(s, f"where (tx, position) >= (select tx, position from okno.event_log "
                         f"where position = {position})")
    got = flat(records(s.bootstrap, target))
    assert sorted((key, value) for key, value, _ in got) == sorted(expect)
    # Within a message (one partition), the records come in log order, which is seq order.
    by_key = {}
    for key, value in expect:
        by_key.setdefault(key, []).append(value)
    got_by_key = {}
    for key, value, _ in got:
        got_by_key.setdefault(key, []).append(value)
    assert got_by_key == by_key


def test_republished_from_a_time_starts_at_the_first_event_at_or_after_it(s):
    # The latest time any event occurred at: the first event in log order at or after it lies
    # well inside the log (log order is commit order; occurred_at is the request's time).
    when = s.sql("select max(occurred_at) from okno.event_log")[0][0]
    target = s.new_topic()
    republish(s, "--from", when, "--topic", target)
    start = s.sql("select tx, position from okno.event_log where occurred_at >= "
                  f"'{when}' order by tx, position limit 1")[0]
    expect = log_rows(s, f"where (tx, position) >= ('{start[0]}'::xid8, {start[1]})")
    got = flat(records(s.bootstrap, target))
    assert got and sorted((key, value) for key, value, _ in got) == sorted(expect)
    # It starts at the first such event: none before it in log order occurred at or after it.
    assert s.scalar("select count(*) from okno.event_log where occurred_at >= "
                    f"'{when}' and (tx, position) < ('{start[0]}'::xid8, {start[1]})") == 0


@pytest.mark.parametrize("args, error", [
    (["--from", "999999999", "--topic", "x"], "no event has this log position"),
    (["--from", "-3", "--topic", "x"], "a log position is 0 or more"),
    (["--from", "not a time", "--topic", "x"], "invalid input syntax for type timestamp"),
    (["--from", "2999-01-01", "--topic", "x"], "no event occurred at or after this time"),
    (["--topic", "x"], "--from and --topic are required"),
])
def test_bad_input_is_refused_with_a_clear_error(s, args, error):
    out = subprocess.run([str(OKNO), "republish", "--bootstrap", s.bootstrap, "--pg",
                          s.app_conninfo, *args], capture_output=True, text=True)
    assert out.returncode != 0
    assert error in out.stderr, out.stderr
    assert out.stdout == ""
