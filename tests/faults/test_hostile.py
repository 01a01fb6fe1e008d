"""Hostile records on every consumed topic through the real broker (issue 14, scenario 7): on
okno.transitions.v1 and okno.sla.v1 (the ledger) and okno.events.v1 (the timer), while a normal
load runs beside them: random bytes, a valid frame with an unknown fingerprint, huge and
negative lengths, runaway varints, a bad union index, a billion-element array block, nested
block headers, a record at the broker's size limit, and a flood of one message id. Every one is
refused once with a stored reason (the ledger) or counted as undecodable (the timer), no process
crashes, the ledger stays ready, peak RSS stays bounded, and the oracle finds the neighbouring
load intact."""
import random
import struct
import uuid

from confluent_kafka import Producer

from faults import HOSTILE_HEADER, Oracle, wait_until
from okno_client import PRODUCER_CONF, Schemas, request

# Peak resident memory a service may reach under the barrage, in MB.
RSS_MB_MAX = 512
# Bytes of the record at the broker's limit: message.max.bytes is 1,048,588 with the batch's
# overhead; librdkafka's message.max.bytes default (1,000,000) bounds what it sends.
LIMIT_BYTES = 999_000
FLOOD = 3000


def zigzag(n):
    """Avro's long encoding of n."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def hostile_values(schemas, name):
    """(label, bytes) of every hostile kind, framed for the schema `name` where a frame helps."""
    rng = random.Random(7)
    fp = schemas.by_name[name][0]
    head = b"\xc3\x01" + fp
    valid = schemas.encode("TransitionRequest", request(
        "take_into_work", uuid.uuid4(), 4242, 1010)) if name == "TransitionRequest" else \
        head + bytes(40)
    out = [("random bytes", bytes(rng.randrange(256) for _ in range(n))) for n in (1, 9, 64, 4096)]
    out += [
        ("empty", b""),
        ("marker only", b"\xc3\x01"),
        ("unknown fingerprint", b"\xc3\x01" + bytes(8) + valid[10:]),
        ("fingerprint of another schema", b"\xc3\x01" + schemas.by_name["Rejection"][0] + valid[10:]),
        ("huge length", head + bytes(32) + zigzag(2**62) + b"x" * 16),
        ("negative length", head + bytes(32) + zigzag(-5) + b"x" * 16),
        ("runaway varint", head + b"\xff" * 64),
        ("billion-element block", head + bytes(32) + zigzag(10**9) + b"\x02" * 32),
        ("nested block headers", head + b"\x02" * 200_000),
        ("at the broker's size limit", head + bytes(rng.randrange(256) for _ in range(64)) +
         b"\x00" * (LIMIT_BYTES - 74)),
    ]
    if name == "TransitionRequest":
        # take_into_work's payload is an empty record: its union index is the last byte.
        out.append(("bad union index", valid[:-1] + zigzag(63)))
        out.append(("negative union index", valid[:-1] + zigzag(-1)))
    return out


def peak_rss_mb(proc):
    for line in open(f"/proc/{proc.pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0




def test_hostile_records_on_every_topic_are_refused_and_neighbours_unaffected(rig):
    rig.start("ledger", "relay", "projector", "timer")
    schemas = Schemas()
    producer = Producer({"bootstrap.servers": rig.s.bootstrap, **PRODUCER_CONF,
                         "message.max.bytes": 1_000_000})
    load = rig.load(messages=800, rate=1500, seed=71)
    sent = {"transitions": 0, "sla": 0, "events": 0}
    for topic, name in (("transitions", "TransitionRequest"), ("sla", "SlaSignal"),
                        ("events", "Event")):
        for label, value in hostile_values(schemas, name):
            for _ in range(3):
                producer.produce(rig.s.topics[topic], key=str(uuid.uuid4()), value=value,
                                 headers={HOSTILE_HEADER: label})
                sent[topic] += 1
            producer.poll(0)
    # A flood of valid requests on one message that does not exist: each refused, in order.
    flood_message = uuid.uuid4()
    flood_ids = []
    for i in range(FLOOD):
        req = request("take_into_work", flood_message, 4242, 1010)
        flood_ids.append(str(uuid.UUID(bytes=req["request_id"])))
        producer.produce(rig.s.topics["transitions"], key=str(flood_message),
                         value=schemas.encode("TransitionRequest", req))
        if i % 500 == 0:
            producer.poll(0)
            assert rig.ready(rig.procs["ledger"]), "the ledger stopped being ready"
    assert producer.flush(60) == 0, "not every hostile record was delivered"
    rig.hostile = sent["transitions"]
    rig.hostile_sla = sent["sla"]
    rig.hostile_events = sent["events"]
    rig.expected["records"] += FLOOD
    rig.expect_refused(flood_ids)
    load.finish()
    rig.settle()
    wait_until("the timer to count every hostile record", lambda: rig.metric(
        rig.procs["timer"], "okno_timer_records_total", 'outcome="undecodable"') ==
        sent["events"], 60)
    for service, proc in rig.procs.items():
        assert proc.poll() is None, f"okno-{service} exited"
        assert rig.ready(proc), f"okno-{service} is not ready"
    rss = {s: peak_rss_mb(p) for s, p in rig.procs.items()}
    print("peak RSS under hostile records (MB): " +
          ", ".join(f"{s} {mb:.0f}" for s, mb in rss.items()))
    assert max(rss.values()) < RSS_MB_MAX, rss
    flood_refused = rig.s.scalar(
        f"select count(*) from okno.refusals where message_id = '{flood_message}'")
    assert flood_refused == FLOOD
    assert Oracle(rig).check() == []
