"""The PostgreSQL hot standby of `deploy/local/up --replica` (issue 15), in a scratch cluster of
the test's own: a read there sees a write once the primary's pg_stat_replication says the
standby replayed past it; the event log's order argument holds there (a reader below the
standby's own xmin horizon never skips a late commit); and hot_standby_feedback keeps a long read
on the standby from being cancelled without holding back the primary's event-log readers."""
import re
import subprocess
import uuid

import pytest

from harness import ROOT, LocalCluster, okno, wait_until


class Session:
    """One psql connection kept open, so a test can hold a transaction across steps."""

    END = "__okno_end__"

    def __init__(self, conninfo):
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-tA", conninfo], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)

    def sql(self, query):
        """Runs query; returns its output lines (an error's text is one of them)."""
        self.proc.stdin.write(f"{query};\n\\echo {self.END}\n")
        self.proc.stdin.flush()
        lines = []
        while (line := self.proc.stdout.readline()) and line.rstrip("\n") != self.END:
            lines.append(line.rstrip("\n"))
        return [l for l in lines if l]

    def value(self, query):
        rows = self.sql(query)
        assert len(rows) == 1 and not rows[0].startswith(("ERROR", "psql")), rows
        return rows[0]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster("scale-replica", "--replica")
    yield c
    c.close()


@pytest.fixture
def db(cluster):
    """Sessions on the primary as the application and as the owner, and on the standby."""
    admin = cluster.conf["OKNO_PG_ADMIN_CONNINFO"]
    opened = {"app": Session(cluster.conf["OKNO_PG_CONNINFO"]), "owner": Session(admin),
              "replica": Session(cluster.conf["OKNO_PG_READ_CONNINFO"])}
    yield opened
    for s in opened.values():
        s.close()


def replayed(owner, lsn):
    """The primary reports that its standby replayed WAL up to lsn."""
    return owner.value("select coalesce(bool_and(replay_lsn >= '%s'), false) "
                       "from pg_stat_replication" % lsn) == "t"


def sync(owner):
    """Waits until the standby has replayed everything the primary has written so far."""
    lsn = owner.value("select pg_current_wal_lsn()")
    wait_until(f"the standby to replay up to {lsn}", lambda: replayed(owner, lsn))


def insert_event(session, message_id):
    """A raw event-log row as the ledger's role may write it (tx and position by default)."""
    return session.value(
        "insert into okno.event_log (message_id, seq, request_id, event_type, occurred_at, body, "
        f"prev_hash, hash) values ('{message_id}', 1, '{uuid.uuid4()}', 'test_event', now(), "
        "'\\x00', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex')) returning tx")


# The relay's reader (common/pg/README.md): final rows only, below the snapshot's xmin horizon.
BELOW_HORIZON = ("select string_agg(message_id::text, ',' order by tx, position) from "
                 "okno.event_log where tx < pg_snapshot_xmin(pg_current_snapshot()) "
                 "and message_id in ('%s', '%s')")


def test_standby_streams_through_its_slot_and_refuses_writes(cluster, db):
    owner, replica = db["owner"], db["replica"]
    assert replica.value("select pg_is_in_recovery()") == "t"
    assert owner.value("select count(*) from pg_stat_replication where state = 'streaming'") == "1"
    assert owner.value("select active from pg_replication_slots "
                       "where slot_name = 'okno_replica' and slot_type = 'physical'") == "t"
    assert replica.value("show hot_standby_feedback") == "on"
    status = subprocess.run([str(ROOT / "deploy/local/status")], env=cluster.env,
                            capture_output=True, text=True).stdout
    assert re.search(r"^pg-replica +up +127\.0\.0\.1:\d+ \(replay lag \d+ bytes\)", status,
                     re.M), status
    error = replica.sql("create table okno.nope (x int)")
    assert any("read-only transaction" in line for line in error), error
    # Operators' read-only tools run there (the log is still empty: no raw rows yet).
    okno("verify", "--pg", cluster.conf["OKNO_PG_READ_CONNINFO"])


def test_read_on_replica_sees_a_write_once_the_primary_reports_it_replayed(db):
    app, owner, replica = db["app"], db["owner"], db["replica"]
    mid = uuid.uuid4()
    insert_event(app, mid)
    lsn = owner.value("select pg_current_wal_lsn()")  # past the insert's commit record
    wait_until("pg_stat_replication to report the commit replayed", lambda: replayed(owner, lsn))
    assert replica.value(f"select count(*) from okno.event_log where message_id = '{mid}'") == "1"
    # The audit's read path works there: okno_app may read the log on the standby.
    assert replica.value("select current_user") == "okno_app"


def test_reader_on_replica_never_skips_a_late_commit(cluster, db):
    owner, replica = db["owner"], db["replica"]
    first, second = Session(cluster.conf["OKNO_PG_CONNINFO"]), Session(cluster.conf["OKNO_PG_CONNINFO"])
    try:
        a, b = uuid.uuid4(), uuid.uuid4()
        first.sql("begin")
        tx_a = int(insert_event(first, a))
        second.sql("begin")
        tx_b = int(insert_event(second, b))
        second.sql("commit")
        assert tx_a < tx_b
        sync(owner)
        # B is committed and replayed: a "position > last" reader on the standby would take it
        # now and skip A forever. The standby's horizon is held by A, as the primary's is.
        assert replica.value(f"select count(*) from okno.event_log where message_id = '{b}'") == "1"
        assert int(replica.value("select pg_snapshot_xmin(pg_current_snapshot())")) <= tx_a
        assert replica.sql(BELOW_HORIZON % (a, b)) == []
        first.sql("commit")
        sync(owner)
        # Now both are final there, in (tx, position) order: A first.
        wait_until("the standby's horizon to pass B",
                   lambda: int(replica.value("select pg_snapshot_xmin(pg_current_snapshot())")) > tx_b)
        assert replica.value(BELOW_HORIZON % (a, b)) == f"{a},{b}"
    finally:
        first.close()
        second.close()


def test_long_read_on_replica_is_kept_but_does_not_hold_the_primarys_reader_horizon(cluster, db):
    app, owner, replica = db["app"], db["owner"], db["replica"]
    owner.sql("create table public.probe (x int) with (autovacuum_enabled = false)")
    owner.sql("insert into public.probe select generate_series(1, 1000)")
    owner.sql("grant select on public.probe to okno_app")
    sync(owner)
    replica.sql("begin isolation level repeatable read")
    assert replica.value("select count(*) from public.probe") == "1000"
    standby_xmin = int(replica.value("select pg_snapshot_xmin(pg_current_snapshot())"))
    # The standby's snapshot reaches the primary as feedback: VACUUM there keeps the rows the
    # open read may still see, so replaying the cleanup cannot conflict with (cancel) it.
    # With a slot, the feedback is kept in the slot (pg_stat_replication.backend_xmin stays null).
    wait_until("the standby's feedback xmin in its slot on the primary", lambda: 0 < int(owner.value(
        "select coalesce(xmin::text::bigint, 0) from pg_replication_slots "
        "where slot_name = 'okno_replica'")) <= standby_xmin)
    owner.sql("delete from public.probe")
    owner.sql("vacuum public.probe")
    kept = owner.value("select n_dead_tup from pg_stat_user_tables where relname = 'probe'")
    assert int(kept) == 1000, "VACUUM removed rows a standby snapshot still sees"
    # The feedback holds back only VACUUM: a write after the standby's snapshot is below the
    # primary's reader horizon as soon as it commits, so the relay is not held up.
    tx = int(insert_event(app, uuid.uuid4()))
    assert tx > standby_xmin
    assert int(owner.value("select pg_snapshot_xmin(pg_current_snapshot())")) > tx
    sync(owner)
    assert replica.value("select count(*) from public.probe") == "1000"  # not cancelled
    replica.sql("commit")
    assert replica.value("select count(*) from public.probe") == "0"
    owner.sql("drop table public.probe")
