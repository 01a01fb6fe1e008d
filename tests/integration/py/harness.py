"""Helpers for okno's Python integration tests: a scratch database and scratch topics on the
local cluster (deploy/local/up), okno services started as real processes against them, the
`okno` CLI, and decoding records with nothing but the .avsc files in schemas/."""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from fastavro import schemaless_reader
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

ROOT = Path(os.environ.get("OKNO_SOURCE_DIR", Path(__file__).resolve().parents[3]))
BUILD = Path(os.environ.get("OKNO_BUILD_DIR", ROOT / "build"))
OKNO = BUILD / "tools" / "okno" / "okno"
# Every wait in these tests is bounded by this many seconds times OKNO_TEST_TIMEOUT_MULTIPLIER.
WAIT_S = 120 * float(os.environ.get("OKNO_TEST_TIMEOUT_MULTIPLIER", "1"))


def cluster_env():
    """The local cluster's addresses from the cluster.env file deploy/local/up writes."""
    path = Path(os.environ.get("OKNO_CLUSTER_ENV", ROOT / ".work" / "cluster.env"))
    env = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value.strip('"')
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql_script(conninfo, script):
    """Runs an SQL script through psql -f, stopping at its first error."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
        f.write(script)
        f.flush()
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo, "-f", f.name],
                       check=True, capture_output=True)


def wait_until(what, predicate, timeout_s=WAIT_S, every_s=0.2):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


class Scratch:
    """A database and a set of topics of a test's own, removed afterwards."""

    TOPICS = ("transitions", "sla", "events", "rejections")

    def __init__(self, name, partitions=8, replication=1):
        self.env = cluster_env()
        self.tag = f"{name}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.db = f"okno_{self.tag}"
        self.admin_conninfo = self._with_db(self.env["OKNO_PG_ADMIN_CONNINFO"], self.db)
        self.app_conninfo = self._with_db(self.env["OKNO_PG_CONNINFO"], self.db)
        self.bootstrap = self.env["OKNO_KAFKA_BOOTSTRAP"]
        self.topics = {t: f"okno.test.{self.tag}.{t}" for t in self.TOPICS}
        self.processes = []
        self._psql(self._with_db(self.env["OKNO_PG_ADMIN_CONNINFO"], "postgres"),
                   f"create database {self.db}")
        okno("migrate", "--pg", self.admin_conninfo)
        subprocess.run(["psql", "-X", "-q", self.admin_conninfo, "-v", "ministries=20", "-f",
                        str(ROOT / "deploy/local/demo_directory.sql")], check=True)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(t, partitions, replication)
                                       for t in self.topics.values()])
        for f in futures.values():
            f.result(30)

    @staticmethod
    def _with_db(conninfo, db):
        parts = [p for p in conninfo.split() if not p.startswith("dbname=")]
        return " ".join(parts + [f"dbname={db}"])

    @staticmethod
    def _psql(conninfo, sql):
        out = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", conninfo,
                              "-c", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def sql(self, query):
        """Runs a query as the superuser in the scratch database; returns rows of strings."""
        out = self._psql(self.admin_conninfo, query)
        return [row.split("|") for row in out.splitlines()] if out else []

    def scalar(self, query):
        return int(self.sql(query)[0][0])

    def run_sql(self, script):
        """Runs a script (psql -f) as the superuser in the scratch database."""
        psql_script(self.admin_conninfo, script)

    def start(self, service, **settings):
        """Starts services/NAME/okno-NAME against the scratch database and topics."""
        port = free_port()
        env = dict(os.environ)
        env.update({
            "OKNO_ADMIN__LISTEN": f"127.0.0.1:{port}",
            "OKNO_PG__CONNINFO": self.app_conninfo,
            "OKNO_KAFKA__BOOTSTRAP__SERVERS": self.bootstrap,
        })
        for key, value in settings.items():
            env["OKNO_" + key.upper().replace(".", "__")] = str(value)
        binary = BUILD / "services" / service / f"okno-{service}"
        log = open(BUILD / f"{self.tag}.{service}.log", "ab")
        proc = subprocess.Popen([str(binary)], env=env, stdout=log, stderr=log,
                                start_new_session=True)
        proc.admin_port = port
        self.processes.append(proc)
        wait_until(f"okno-{service} to be ready", lambda: ready(port) or proc.poll() is not None)
        assert proc.poll() is None, f"okno-{service} exited with {proc.returncode}"
        return proc

    def start_ledger(self, group=None, instance=None):
        """A ledger in `group`. With `instance`, a static group member: restarted after a crash
        under the same instance id, it takes its partitions back without waiting for the dead
        member's session to time out (KIP-345)."""
        extra = {"kafka.consumer.group.instance.id": instance} if instance else {}
        return self.start("ledger", **extra, **{
            "ledger.group_id": group or f"ledger-{self.tag}",
            "ledger.transitions_topic": self.topics["transitions"],
            "ledger.sla_topic": self.topics["sla"],
            "log.level": "warn",
        })

    def start_relay(self):
        return self.start("relay", **{
            "relay.events_topic": self.topics["events"],
            "relay.rejections_topic": self.topics["rejections"],
        })

    def start_ledger_and_relay(self):
        """A ledger in group ledger-<tag> and a relay; returns the ledger's group."""
        group = f"ledger-{self.tag}"
        self.start_ledger(group)
        self.start_relay()
        return group

    def load(self, *args):
        """Runs `okno load` into the scratch topics; returns its JSON summary."""
        out = okno("load", "--bootstrap", self.bootstrap, "--pg", self.app_conninfo,
                   "--topic", self.topics["transitions"], *args)
        return json.loads(out.strip().splitlines()[-1])

    def load_started(self, *args):
        """Starts `okno load` into the scratch topics in the background (stdout piped: its last
        line is the JSON summary); returns the process."""
        return subprocess.Popen([str(OKNO), "load", "--bootstrap", self.bootstrap, "--pg",
                                 self.app_conninfo, "--topic", self.topics["transitions"], *args],
                                stdout=subprocess.PIPE, text=True)

    def requests_leader(self):
        """The broker leading partition 0 of the requests topic: killing it moves leadership
        under load."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return admin.list_topics(timeout=30).topics[self.topics["transitions"]].partitions[0].leader

    def consumed(self, group):
        """Records of the transitions topic the ledger group has committed, per PostgreSQL."""
        return self.scalar("select coalesce(sum(next_offset), 0) from okno.consumer_offsets "
                           f"where group_id = '{group}' and topic = '{self.topics['transitions']}'")

    def close(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        AdminClient({"bootstrap.servers": self.bootstrap}).delete_topics(list(self.topics.values()))
        self._psql(self._with_db(self.env["OKNO_PG_ADMIN_CONNINFO"], "postgres"),
                   f"drop database if exists {self.db} with (force)")


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
            return b" 200 " in s.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False


def okno(*args):
    out = subprocess.run([str(OKNO), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"okno {' '.join(args[:1])} failed ({out.returncode}): {out.stderr}")
    return out.stdout


def schemas_by_fingerprint():
    """Every schema in schemas/, keyed by its CRC-64-AVRO fingerprint as it appears on the wire
    (fastavro spells it as the hex of those 8 little-endian bytes)."""
    found = {}
    for path in sorted((ROOT / "schemas").glob("*.avsc")):
        schema = parse_schema(json.loads(path.read_text()))
        hex_fp = fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
        found[bytes.fromhex(hex_fp)] = (path.stem, schema)  # hex of the 8 wire bytes
    return found


def decode(value, schemas):
    """Decodes an Avro single-object encoded record: marker, fingerprint, body."""
    assert value[:2] == b"\xc3\x01", "not Avro single-object encoding"
    name, schema = schemas[value[2:10]]
    return name, schemaless_reader(io.BytesIO(value[10:]), schema)


def distinct_events(bootstrap, topic, events, timeout_s=WAIT_S):
    """How many distinct (message, seq) events topic holds, read from the beginning until all
    `events` came (a relay may publish a batch twice after a crash) or the time is up."""
    schemas = schemas_by_fingerprint()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen, deadline = set(), time.monotonic() + timeout_s
    while len(seen) < events and time.monotonic() < deadline:
        for rec in consumer.consume(1000, 0.5):
            if rec.error() is None:
                _, ev = decode(rec.value(), schemas)
                seen.add((ev["message_id"], ev["seq"]))
    consumer.close()
    return len(seen)


def read_topic(bootstrap, topic, expect, timeout_s=WAIT_S):
    """Reads every record of topic from the beginning until `expect` records have come."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    records, deadline = [], time.monotonic() + timeout_s
    while len(records) < expect and time.monotonic() < deadline:
        for m in consumer.consume(1000, 0.5):
            if m.error() is None:
                records.append(m)
    consumer.close()
    return records


class LocalCluster:
    """A whole local cluster of a test's own: `deploy/local/up --no-services ARGS` in a scratch
    working folder (its own ports, PostgreSQL and brokers), so a developer's running cluster is
    not touched. `close` stops everything and deletes the data, also after a failed start;
    while it is open, OKNO_CLUSTER_ENV points the helpers here (Scratch, cluster_env) at it."""

    def __init__(self, name, *up_args):
        self.work = BUILD / f"{name}.work"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(
            ("OKNO_PG_", "OKNO_KAFKA_", "OKNO_PARTITIONS", "OKNO_REPLICATION"))}
        self.env.update(OKNO_WORK=str(self.work), OKNO_BUILD=str(BUILD), OKNO_SKIP_BOOTSTRAP="1")
        if self.work.exists():  # a previous run killed before its cleanup
            self._stop()
        (self.work / "kafka").mkdir(parents=True)
        # The broker's jars, as bootstrap.sh resolved them for the source tree.
        shutil.copy(ROOT / ".work" / "kafka" / "classpath.txt", self.work / "kafka")
        self._saved = os.environ.get("OKNO_CLUSTER_ENV")
        os.environ["OKNO_CLUSTER_ENV"] = str(self.work / "cluster.env")
        try:
            self.up(*up_args)
        except BaseException:
            self.close()
            raise
        self.conf = cluster_env()

    def run(self, script, *args):
        subprocess.run([str(ROOT / "deploy" / "local" / script), *args], env=self.env,
                       check=True, timeout=4 * WAIT_S)

    def up(self, *args):
        self.run("up", "--no-services", "--no-build", *args)

    def kill_broker(self, node):
        """SIGKILLs broker `node` of a three-broker cluster (`up` starts it again)."""
        pidfile = self.work / "kafka-3" / f"node{node}" / "broker.pid"
        os.kill(int(pidfile.read_text()), signal.SIGKILL)

    def _stop(self):
        down = str(ROOT / "deploy" / "local" / "down")
        subprocess.run([down], env=self.env, timeout=4 * WAIT_S)
        subprocess.run([down, "--purge"], env=self.env, timeout=WAIT_S)
        shutil.rmtree(self.work, ignore_errors=True)

    def close(self):
        if self._saved is None:
            os.environ.pop("OKNO_CLUSTER_ENV", None)
        else:
            os.environ["OKNO_CLUSTER_ENV"] = self._saved
        self._stop()
