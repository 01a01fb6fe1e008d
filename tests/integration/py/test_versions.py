"""The first v2 (issue 16): a log and a topic that hold v1 and v2 bodies read the same everywhere.

- the ledger decides TransitionRequest v1 bodies (an old client) like v2 ones, and its events
  record the v2 client's requested_at and e-mail (null from the v1 client);
- a copy of the event log whose bodies of every other message are rewritten as an Event v1
  writer wrote them (hash chains, stream heads and checkpoints recomputed over the stored
  bytes, as that writer did) verifies, projects (the projector service) and replays into the
  same read models, audits to the same history, and is published by the relay and read by a
  Python consumer (fastavro resolving by fingerprint) as the same events, v2's fields at their
  defaults."""
import hashlib
import io
import json
import subprocess
import tempfile
import time
import uuid

from fastavro import schemaless_reader, schemaless_writer

from confluent_kafka.admin import AdminClient, NewTopic

from harness import ROOT, okno, psql_script, read_topic, wait_until

from okno_client import Client, Schemas, request

HISTORY = ROOT / "schemas" / "history"
MODERATOR, OPERATOR_ORG, MINISTRY = 101, 1, 1020


def drive(client, message, applicant, schemas=None, email=None):
    """One message to an approved answer; every step must be accepted."""
    org = MINISTRY
    submit = {"channel": "portal", "applicant_id": applicant, "category_id": 1,
              "subcategory_id": None, "text": f"message of {applicant}"}
    if email is not None:
        submit["applicant_email"] = email
    steps = [
        ("submit", applicant, 0, submit),
        ("accept", MODERATOR, OPERATOR_ORG, {"target_org_id": org, "category_id": None,
                                             "subcategory_id": None}),
        ("assign_executor", org * 100 + 1, org, {"executor_user_id": org * 100 + 2}),
        ("take_into_work", org * 100 + 2, org, {}),
        ("draft_answer", org * 100 + 2, org, {"answer_type": "resolved", "text": "done",
                                              "postponed_until": None, "agreer_user_ids": [],
                                              "approver_user_id": org * 100 + 5}),
        ("approve", org * 100 + 5, org, {"edited_text": None}),
    ]
    events = []
    for action, user, acting_org, payload in steps:
        req = request(action, message, user, acting_org, payload)
        kind, rec = client.do(req, schemas=schemas)
        assert kind == "Event", (action, rec)
        events.append((req, rec))
    return events


def stop_services(s):
    for proc in s.processes:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)


def hexbytes(text):
    assert text.startswith("\\x")
    return bytes.fromhex(text[2:])


def rewrite_as_v1(db, messages, version="v1"):
    """Rewrites the events of `messages` in database `db` as Event v1 (or `version`) bodies,
    recomputing what covers the stored bytes: hash chains, stream heads, global checkpoints."""
    v2 = Schemas()
    v1 = Schemas(files={"Event": HISTORY / "Event" / f"{version}.avsc"})
    v1_fp, v1_schema = v1.by_name["Event"]
    _, v2_schema = v2.by_name["Event"]
    sql = ["set session_replication_role = replica;"]  # past the append-only triggers
    for message in messages:
        rows = db.sql(f"select seq, body, prev_hash from okno.event_log "
                      f"where message_id = '{message}' order by seq")
        prev = hexbytes(rows[0][2])
        for seq, body, _ in rows:
            body = hexbytes(body)
            rec = schemaless_reader(io.BytesIO(body[10:]), v2_schema, return_record_name=True)
            out = io.BytesIO()
            out.write(b"\xc3\x01" + v1_fp)
            schemaless_writer(out, v1_schema, rec)  # v1 has no requested_at, no e-mail
            new = out.getvalue()
            digest = hashlib.sha256(prev + new).digest()
            sql.append(f"update okno.event_log set body = '\\x{new.hex()}', "
                       f"prev_hash = '\\x{prev.hex()}', hash = '\\x{digest.hex()}' "
                       f"where message_id = '{message}' and seq = {seq};")
            prev = digest
        sql.append(f"update okno.stream_heads set hash = '\\x{prev.hex()}' "
                   f"where message_id = '{message}';")
    db.run_sql("\n".join(sql))
    # Checkpoints: sha256(previous digest || the hashes after the previous checkpoint).
    digest, after = bytes(32), None
    sql = ["set session_replication_role = replica;"]
    for no, tx, pos in db.sql("select checkpoint_no, through_tx, through_position "
                              "from okno.log_checkpoints order by checkpoint_no"):
        lower = "" if after is None else f"and (tx, position) > ('{after[0]}'::xid8, {after[1]})"
        hashes = db.sql(f"select hash from okno.event_log where (tx, position) <= "
                        f"('{tx}'::xid8, {pos}) {lower} order by tx, position")
        digest = hashlib.sha256(digest + b"".join(hexbytes(h[0]) for h in hashes)).digest()
        sql.append(f"update okno.log_checkpoints set digest = '\\x{digest.hex()}' "
                   f"where checkpoint_no = {no};")
        after = (tx, pos)
    db.run_sql("\n".join(sql))


class Copy:
    """A database created from another as a template."""

    def __init__(self, s, name):
        self.s, self.db = s, f"{s.db}_{name}"
        s._psql(s._with_db(s.env["OKNO_PG_ADMIN_CONNINFO"], "postgres"),
                f"create database {self.db} template {s.db}")
        self.admin_conninfo = s._with_db(s.env["OKNO_PG_ADMIN_CONNINFO"], self.db)
        self.app_conninfo = s._with_db(s.env["OKNO_PG_CONNINFO"], self.db)

    def sql(self, query):
        out = self.s._psql(self.admin_conninfo, query)
        return [row.split("|") for row in out.splitlines()] if out else []

    def run_sql(self, script):
        psql_script(self.admin_conninfo, script)

    def drop(self):
        self.s._psql(self.s._with_db(self.s.env["OKNO_PG_ADMIN_CONNINFO"], "postgres"),
                     f"drop database if exists {self.db} with (force)")


def as_v1_reads(event):
    """What a v1 record of this event reads as: the fields of v2 and v3 at their defaults."""
    want = dict(event, requested_at=None, directory_version=None)
    if want["type"] == "message_submitted":
        want["payload"] = dict(want["payload"], applicant_email=None)
    return want


def read_models(db):
    """Every read-model table's rows, as one digest per table (but `meta`, which says when and
    by whom the models were built), and how many events were applied."""
    tables = [t[0] for t in db.sql("select table_name from information_schema.tables "
                                   "where table_schema = 'okno_rm' and table_name <> 'meta' "
                                   "order by 1")]
    assert tables
    models = {t: db.sql(f"select count(*), md5(coalesce(string_agg(r::text, ',' "
                        f"order by r::text), '')) from okno_rm.{t} r")[0] for t in tables}
    models["meta"] = db.sql("select events_applied from okno_rm.meta")
    return models


def audit(db, message):
    out = okno("audit", message, "--json", "--pg", db.admin_conninfo)
    doc = json.loads(out)
    for e in doc["events"]:
        e.pop("hash", None)  # over the stored bytes: v1 bodies hash differently
    return doc


def test_a_log_of_v1_and_v2_bodies_reads_the_same_everywhere(scratch):
    s = scratch
    s.start_ledger()
    s.start("relay", **{"relay.events_topic": s.topics["events"],
                        "relay.rejections_topic": s.topics["rejections"],
                        "relay.checkpoint_events": 50})  # several checkpoints to recompute
    client = Client(s.bootstrap, s.topics["transitions"], s.topics["events"],
                    s.topics["rejections"])
    v1_requests = Schemas(files={"TransitionRequest": HISTORY / "TransitionRequest" / "v1.avsc"})
    messages = []
    try:
        # The ledger reads requests of both versions.
        for i in range(4):
            message = uuid.uuid4()
            messages.append(str(message))
            if i % 2:
                events = drive(client, message, 88000 + i, schemas=v1_requests)
                assert events[0][1]["payload"]["applicant_email"] is None
            else:
                events = drive(client, message, 88000 + i, email=f"a{i}@example.org")
                assert events[0][1]["payload"]["applicant_email"] == f"a{i}@example.org"
            for req, ev in events:  # the client's time beside the ledger's
                assert round(ev["requested_at"].timestamp() * 1000) == req["requested_at"]
    finally:
        client.close()
    expect = s.load("--messages", "60", "--seed", "16")
    wait_until("the ledger to consume every record",
               lambda: s.scalar("select coalesce(sum(next_offset), 0) from "
                                "okno.consumer_offsets where topic = "
                                f"'{s.topics['transitions']}'") == expect["records"] + 24)
    wait_until("checkpoints", lambda: s.scalar("select count(*) from okno.log_checkpoints") > 2)
    time.sleep(1)
    stop_services(s)

    loaded = [r[0] for r in s.sql("select message_id from okno.stream_heads order by 1")]
    both = Copy(s, "mixed")
    try:
        rewrite_as_v1(both, messages[:2] + loaded[::2])
        v1_fp = Schemas(files={"Event": HISTORY / "Event" / "v1.avsc"}).by_name["Event"][0]
        mixed = both.sql("select count(*) filter (where substr(body, 3, 8) = "
                         f"'\\x{v1_fp.hex()}'), count(*) from okno.event_log")[0]
        assert 0 < int(mixed[0]) < int(mixed[1]), mixed
        # A consumer in another language reads both versions too (fastavro resolves the writer
        # schema the fingerprint names into the current one).
        schemas = Schemas()
        now = {(r[0], r[1]): schemas.decode(hexbytes(r[2]))[1] for r in s.sql(
            "select message_id, seq, body from okno.event_log")}
        for message, seq, body in both.sql("select message_id, seq, body from okno.event_log"):
            name, ev = schemas.decode(hexbytes(body))
            want = now[(message, seq)]
            if hexbytes(body)[2:10] == v1_fp:
                want = as_v1_reads(want)
            assert name == "Event" and ev == want
        # The relay publishes the mixed log as stored, and that reader reads it the same way.
        for t in ("events", "rejections"):
            s.topics[f"{t}_mixed"] = f"{s.topics[t]}.mixed"  # dropped with the scratch's
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        futures = admin.create_topics(
            [NewTopic(s.topics[f"{t}_mixed"], 8, 1) for t in ("events", "rejections")])
        for f in futures.values():
            f.result(30)
        saved, s.app_conninfo = s.app_conninfo, both.app_conninfo
        try:
            s.start("relay", **{"relay.events_topic": s.topics["events_mixed"],
                                "relay.rejections_topic": s.topics["rejections_mixed"],
                                "relay.cursor_prefix": "mixed."})
        finally:
            s.app_conninfo = saved
        published = read_topic(s.bootstrap, s.topics["events_mixed"], len(now))
        assert len(published) == len(now)
        assert any(m.value()[2:10] == v1_fp for m in published)
        for m in published:
            name, ev = schemas.decode(m.value())
            assert m.key().decode() == str(uuid.UUID(bytes=ev["message_id"]))
            want = now[(m.key().decode(), str(ev["seq"]))]
            assert ev == (as_v1_reads(want) if m.value()[2:10] == v1_fp else want)
        stop_services(s)
        okno("verify", "--pg", both.admin_conninfo)  # chains over the stored bytes hold
        okno("verify", "--pg", s.admin_conninfo)
        # The projector service builds the same read models from either log.
        events = s.scalar("select count(*) from okno.event_log")
        for db, conninfo in ((s, s.app_conninfo), (both, both.app_conninfo)):
            saved, s.app_conninfo = s.app_conninfo, conninfo
            try:
                s.start("projector", **{"log.level": "warn"})
            finally:
                s.app_conninfo = saved
            wait_until("the projector to apply every event", lambda: db.sql(
                "select events_applied from okno_rm.meta") == [[str(events)]])
        stop_services(s)
        assert read_models(both) == read_models(s)
        okno("replay", "--pg", s.admin_conninfo)
        okno("replay", "--pg", both.admin_conninfo)
        assert read_models(both) == read_models(s)
        for message in messages + loaded[:6]:
            original, old = audit(s, message), audit(both, message)
            if message in messages[:2] or message in loaded[::2]:
                for e in original["events"]:  # what v1 cannot say reads as its default
                    e["requested_at"] = None
                    e["applicant_email"] = None
                    e.pop("directory_version", None)  # v3's: not shown when unknown
                    e.pop("grant", None)
            assert old == original
    finally:
        both.drop()
