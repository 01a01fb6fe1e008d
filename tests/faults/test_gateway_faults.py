"""What the gateway makes possible (issue 14, "Also"), each during a load produced to Kafka
directly and each judged by the oracle:

1. The gateway SIGKILLed between producing and answering: clients send submits and actions with
   an Idempotency-Key; the gateway stops itself right after Kafka acknowledged a write and
   before answering it (`gateway.fault_stop_before_answer`), more writes pile up unanswered,
   it is SIGKILLed and restarted, and every client retries its unanswered writes with the same
   key and body. Every write meant is in the log exactly once under its derived request id
   (UUIDv5 of user:key), the retries are answered with that id, GET /requests/{id} reports
   each decision.
2. Hostile HTTP (fuzzed bodies, a 10 MB body, many headers, slow senders, bad tokens) beside
   well-behaved clients: each hostile request gets its 4xx or its connection closed, nothing is
   produced for it, the gateway's peak RSS stays bounded, the others are served throughout.
3. Tenant attacks: staff of org A try org B's messages (ids they learned, guessed ids) on the
   write and read endpoints: every answer is the 404 of a missing id, nothing is produced,
   B's messages' logs hold only B's requests.

Deterministic under OKNO_FAULTS_SEED (default 1414): the writes, their order and the fuzz."""
import http.client
import json
import os
import random
import signal
import socket
import threading
import time
import uuid

import pytest

from faults import BUILD, Oracle, Rig, read_whole_topic, wait_until
from gateway_harness import Gateway
from harness import decode, schemas_by_fingerprint

SEED = int(os.environ.get("OKNO_FAULTS_SEED", "1414"))
# gateway.id_namespace's default: request id = UUIDv5(namespace, "user:Idempotency-Key").
ID_NAMESPACE = uuid.UUID("6f6b6e6f-6761-5465-8177-61792d696473")
MODERATOR = (101, 1)
ORG_A = [(101001, 1010), (101002, 1010), (101005, 1010)]  # coordinator, executor, manager
ACTION_OF = {101001: "take_over", 101002: "take_into_work", 101005: "approve"}
RSS_MB_MAX = 256  # the gateway's peak resident memory under hostile HTTP


class Client:
    """One well-behaved client: its writes, each (user, org, path, body, key), sent once each
    in order; what is not answered 202 (timeout, reset, refused, 5xx) waits for retry()."""

    def __init__(self, g, tokens, writes, timeout_s=3):
        self.g, self.tokens, self.writes, self.timeout_s = g, tokens, writes, timeout_s
        self.answered = {}  # key -> request id of the 202
        self.unanswered = []
        self.failures = 0

    def send(self, w):
        user, org, path, body, key = w
        h = {"Authorization": "Bearer " + self.tokens[user], "Idempotency-Key": key,
             "Content-Type": "application/json"}
        if org is not None:
            h["X-Okno-Org"] = str(org)
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.g.port, timeout=self.timeout_s)
            c.request("POST", path, body=json.dumps(body).encode(), headers=h)
            r = c.getresponse()
            data = r.read()
            c.close()
        except (OSError, http.client.HTTPException):
            return False
        if r.status == 202:
            self.answered[key] = json.loads(data)["request_id"]
            return True
        assert r.status >= 500, (w, r.status, data)  # anything but the gateway's trouble is a bug
        return False

    def run(self):
        for w in self.writes:
            if not self.send(w):
                self.failures += 1
                self.unanswered.append(w)

    def retry(self, deadline_s=60):
        end = time.monotonic() + deadline_s
        while self.unanswered and time.monotonic() < end:
            self.unanswered = [w for w in self.unanswered if not self.send(w)]
            time.sleep(0.2)
        assert not self.unanswered, f"{len(self.unanswered)} writes never answered"


def derived_id(user, key):
    return str(uuid.uuid5(ID_NAMESPACE, f"{user}:{key}"))


def run_clients(clients):
    threads = [threading.Thread(target=c.run) for c in clients]
    for t in threads:
        t.start()
    return threads


@pytest.fixture(scope="module")
def rig():
    r = Rig("gateway", shared=True)
    try:
        r.start("ledger", "relay", "projector")
        yield r
    finally:
        r.close()


def start_gateway(rig, port=None, keys=None, **settings):
    """The gateway alone in front of the rig's scratch (stopped by the rig's close)."""
    return Gateway("gateway", scratch=rig.s, port=port, keys=keys, **settings)


def topic_requests(rig):
    """Request id text -> records of it on the transitions topic, and message id text -> the
    request ids of its records."""
    schemas = schemas_by_fingerprint()
    by_id, by_message = {}, {}
    for m in read_whole_topic(rig.s.bootstrap, rig.s.topics["transitions"]):
        try:
            _, r = decode(m.value(), schemas)
        except Exception:  # noqa: BLE001 a hostile record of another test: not a request
            continue
        rid = str(uuid.UUID(bytes=r["request_id"]))
        by_id[rid] = by_id.get(rid, 0) + 1
        by_message.setdefault(str(uuid.UUID(bytes=r["message_id"])), []).append(rid)
    return by_id, by_message


def declare(rig, meant, on_topic):
    """The oracle expects each meant request id once with one event; records: every copy of
    them the topic holds (a retry of a produced write is produced again, the ledger keeps one)."""
    rig.add_expected({"records": sum(on_topic.get(rid, 0) for rid in meant),
                      "expected_events": len(meant), "malformed": 0,
                      "ids": {rid: 1 for rid in meant}})


def moderated(rig, n):
    """n messages submitted directly and visible in moderation's read model."""
    ids = rig.submit(n)
    wait_until(f"{n} messages projected", lambda: rig.s.scalar(
        "select count(*) from okno_rm.card where message_id in (%s)" %
        ",".join(f"'{m}'" for m in ids)) == n)
    return ids


def decisions(g, tokens, user, org, rid):
    h = {"Authorization": "Bearer " + tokens[user]}
    if org is not None:
        h["X-Okno-Org"] = str(org)
    def decided():
        c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
        c.request("GET", f"/requests/{rid}?wait=2s", headers=h)
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        return body if r.status == 200 and body["status"] != "pending" else None
    return wait_until(f"request {rid} decided", decided)


def test_gateway_sigkilled_between_producing_and_answering_loses_and_repeats_nothing(rig):
    rng = random.Random(SEED)
    targets = moderated(rig, 48)
    writes = [(5100 + i % 12, None, "/messages", {"text": f"Сообщение {i}", "category_id": 1},
               f"submit-{SEED}-{i}") for i in range(120)]
    writes += [(*MODERATOR, f"/messages/{m}/actions/accept", {"target_org_id": 1010},
                f"accept-{SEED}-{m}") for m in targets]
    rng.shuffle(writes)
    stop_file = BUILD / f"{rig.s.tag}.gateway.stop"
    g = start_gateway(rig, **{"gateway.fault_stop_before_answer": str(stop_file)})
    tokens = {u: g.token(u) for u in {w[0] for w in writes}}
    clients = [Client(g, tokens, writes[i::8]) for i in range(8)]
    load = rig.load_under_way("the gateway's writes", messages=600, rate=600, seed=SEED)
    threads = run_clients(clients)
    wait_until("a first share of the writes answered",
               lambda: sum(len(c.answered) for c in clients) >= 40, 60, 0.05)
    stop_file.touch()
    wait_until("the gateway to stop between acknowledgement and answer",
               lambda: Rig.stopped(g.proc), 30, 0.05)
    time.sleep(1.5)  # more writes arrive and wait; some are produced
    assert load.running(), "the load ended before the gateway was killed"
    os.kill(g.proc.pid, signal.SIGKILL)
    g.proc.wait()
    answered_at_kill = {c.answered[k] for c in clients for k in c.answered}
    on_topic, _ = topic_requests(rig)
    meant = {derived_id(w[0], w[4]): w for w in writes}
    produced_unanswered = [r for r in meant if r in on_topic and r not in answered_at_kill]
    print(f"at the kill: {len(answered_at_kill)} of {len(meant)} writes answered, "
          f"{len(produced_unanswered)} produced but not answered")
    assert produced_unanswered, "no write was produced and left unanswered at the kill"
    assert not stop_file.exists()
    g2 = start_gateway(rig, port=g.port, keys=g.keys)
    for t in threads:
        t.join(120)
    for c in clients:
        c.retry()
    load.finish()
    answers = {k: rid for c in clients for k, rid in c.answered.items()}
    assert len(answers) == len(writes)
    for user, _, _, _, key in writes:
        assert answers[key] == derived_id(user, key), (user, key)
    for rid, (user, org, *_rest) in meant.items():
        assert decisions(g2, tokens, user, org, rid)["status"] == "accepted", rid
    on_topic, _ = topic_requests(rig)
    print(f"retried {sum(c.failures for c in clients)} writes; "
          f"{sum(on_topic[r] for r in meant) - len(meant)} produced twice")
    declare(rig, meant, on_topic)
    g2.close()
    assert Oracle(rig).check() == []
    assert rig.s.scalar("select count(*) from okno.requests where request_id in (%s)" %
                        ",".join(f"'{r}'" for r in meant)) == len(meant)


def hostile_http(g, rng, tokens, stats):
    """Every hostile kind once; each answer checked; counts in stats."""
    def raw(data, timeout_s=15):
        with socket.create_connection(("127.0.0.1", g.port), timeout=timeout_s) as c:
            try:
                c.sendall(data)
            except OSError:
                return b""  # the gateway closed the connection before taking it all
            out = b""
            try:
                while chunk := c.recv(65536):
                    out += chunk
            except OSError:
                pass
            return out
    auth = b"Authorization: Bearer " + tokens[5001].encode() + b"\r\n"
    for _ in range(60):  # fuzzed bodies: 400 naming the body (or a field)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        out = raw(b"POST /messages HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: %d\r\n"
                  b"Connection: close\r\n\r\n" % len(junk) + junk)
        assert out.startswith(b"HTTP/1.1 400"), out[:200]
        stats["fuzzed"] += 1
    big = b"{" + b"x" * (10 * 1024 * 1024)
    out = raw(b"POST /messages HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: %d\r\n"
              b"Connection: close\r\n\r\n" % len(big) + big)
    assert out == b"" or out.startswith(b"HTTP/1.1 413"), out[:200]
    stats["10MB"] += 1
    out = raw(b"GET /my/messages HTTP/1.1\r\nHost: x\r\n" +
              b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(1000)) +
              b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    out = raw(b"POST /messages HTTP/1.1\r\nHost: x\r\n" + auth +
              b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(80)) +
              b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert out.startswith(b"HTTP/1.1 431"), out[:200]
    stats["headers"] += 2
    good = tokens[5001]
    for bad in ("not.a.token", good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
                tokens["expired"], ""):
        body = b'{"text":"x","category_id":1}'
        out = raw(b"POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  bad.encode() + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" %
                  len(body) + body)
        assert out.startswith(b"HTTP/1.1 401"), out[:200]
        stats["bad tokens"] += 1


def test_hostile_http_during_load_is_refused_produces_nothing_and_others_are_served(rig):
    rng = random.Random(SEED + 2)
    g = start_gateway(rig, **{"gateway.idle_timeout": "3s"})
    tokens = {u: g.token(u) for u in range(5001, 5009)}
    tokens["expired"] = g.token(5001, "--ttl", "-120")
    writes = [(5001 + i % 8, None, "/messages", {"text": f"Обращение {i}", "category_id": 1},
               f"calm-{SEED}-{i}") for i in range(160)]
    clients = [Client(g, tokens, writes[i::4], timeout_s=10) for i in range(4)]
    load = rig.load_under_way("hostile HTTP", messages=600, rate=600, seed=SEED + 2)
    threads = run_clients(clients)
    stats = {"fuzzed": 0, "10MB": 0, "headers": 0, "bad tokens": 0, "slow": 0}
    slow = []
    for _ in range(50):  # slow senders hold connections, a byte now and then
        c = socket.create_connection(("127.0.0.1", g.port))
        c.sendall(b"POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        slow.append(c)
        stats["slow"] += 1
    hostile_http(g, rng, tokens, stats)
    assert load.running(), "the load ended before the hostile clients did"
    closed = 0
    for c in slow:  # each closed by the gateway's idle timeout (3 s here), at most with an answer
        c.settimeout(15)
        try:
            data = c.recv(65536)
        except ConnectionResetError:
            data = b""
        assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:200]
        closed += 1
        c.close()
    stats["slow closed"] = closed
    for t in threads:
        t.join(120)
    load.finish()
    served = sum(len(c.answered) for c in clients)
    peak_mb = int(next(line.split()[1] for line in open(f"/proc/{g.proc.pid}/status")
                       if line.startswith("VmHWM:"))) / 1024
    print(f"hostile: {stats}; well-behaved writes served {served} of {len(writes)}; "
          f"gateway peak RSS {peak_mb:.0f} MB")
    assert all(c.failures == 0 for c in clients), [c.failures for c in clients]
    assert served == len(writes)
    assert peak_mb < RSS_MB_MAX
    assert g.proc.poll() is None
    meant = {derived_id(w[0], w[4]) for w in writes}
    on_topic, _ = topic_requests(rig)
    declare(rig, meant, on_topic)
    g.close()
    assert Oracle(rig).check() == []


def test_org_a_staff_get_404s_on_org_b_messages_during_load_and_change_nothing(rig):
    rng = random.Random(SEED + 3)
    victims = moderated(rig, 12)
    rig.send([("accept", m, 101, 1, {"target_org_id": 1020, "category_id": None,
                                     "subcategory_id": None}) for m in victims])
    wait_until("org B's messages projected", lambda: rig.s.scalar(
        "select count(*) from okno_rm.card where seq = 2 and message_id in (%s)" %
        ",".join(f"'{m}'" for m in victims)) == len(victims))
    _, before = topic_requests(rig)
    b_requests = {str(m): set(before[str(m)]) for m in victims}
    g = start_gateway(rig)
    tokens = {u: g.token(u) for u, _ in ORG_A}
    load = rig.load_under_way("the tenant attack", messages=1500, rate=800, seed=SEED + 3)
    tries = 0

    def call(method, path, user, org, body=None, key=None):
        h = {"Authorization": "Bearer " + tokens[user], "X-Okno-Org": str(org)}
        if key:
            h["Idempotency-Key"] = key
        c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
        c.request(method, path, body=None if body is None else json.dumps(body).encode(),
                  headers={**h, "Content-Type": "application/json"} if body is not None else h)
        r = c.getresponse()
        out = (r.status, json.loads(r.read() or b"null"))
        c.close()
        return out
    guessed = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(4)]
    for target in [str(m) for m in victims] + guessed:
        missing = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        for user, org in ORG_A:
            action = ACTION_OF[user]
            for suffix in ("", "/history", "/timeline"):
                got = call("GET", f"/messages/{target}{suffix}", user, org)
                assert got == call("GET", f"/messages/{missing}{suffix}", user, org)
                assert got[0] == 404, (user, suffix, got)
                tries += 1
            got = call("POST", f"/messages/{target}/actions/{action}", user, org, {},
                       key=f"attack-{target}-{user}")
            assert got == call("POST", f"/messages/{missing}/actions/{action}", user, org, {})
            assert got[0] == 404, (user, action, got)
            tries += 1
    for m in victims:  # the requests B's messages were made with, by id
        for rid in b_requests[str(m)]:
            user, org = ORG_A[0]
            got = call("GET", f"/requests/{rid}", user, org)
            assert got == call("GET", f"/requests/{uuid.uuid4()}", user, org) and got[0] == 404
            tries += 1
    assert load.running(), "the load ended before the attack did"
    load.finish()
    print(f"tenant attack: {tries} tries on {len(victims)} of org B's messages and "
          f"{len(guessed)} guessed ids, all 404")
    _, after = topic_requests(rig)
    for m in victims:
        assert set(after[str(m)]) == b_requests[str(m)], f"a request was produced for {m}"
    for t in guessed:
        assert t not in after
    g.close()
    assert Oracle(rig).check() == []
    for m in victims:
        logged = {r[0] for r in rig.s.sql(
            f"select request_id from okno.event_log where message_id = '{m}'")}
        assert logged == b_requests[str(m)], (m, logged)
        assert rig.s.scalar(f"select count(*) from okno.event_log where message_id = '{m}'") == 2
