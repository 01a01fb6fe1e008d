"""The faults harness (issue 14): a rig of real okno services on a cluster of the test's own, the
load generator's prediction by request id, the faults themselves, and the oracle that judges the
outcome after a scenario and its recovery.

    rig = Rig("broker")                 # its own PostgreSQL and Kafka (deploy/local/up), a
    rig.start("ledger", "relay", "projector")   # scratch database and topics, real services
    load = rig.load(messages=2000, rate=3000)   # okno load --expect-ids, in the background
    ...inject a fault...
    expect = load.finish()
    violations = Oracle(rig).check(expect)      # [] or one clear sentence per violation
    rig.close()                          # stops every process and the cluster, also on failure

Every wait is bounded (harness.WAIT_S times OKNO_TEST_TIMEOUT_MULTIPLIER)."""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "integration" / "py"))
sys.path.insert(0, str(HERE.parents[1] / "examples" / "python"))

from harness import OKNO, BUILD, WAIT_S, LocalCluster, Scratch, decode, free_port, okno, \
    ready, schemas_by_fingerprint, wait_until  # noqa: E402

SLA_TYPES = ("stage_time_approaching", "stage_time_exceeded", "answer_deadline_approaching",
             "answer_deadline_expired", "postponed_date_reached")
# The header a scenario puts on the hostile records it writes to okno.events.v1, so the oracle's
# reader (h) can tell them from what the relay published.
HOSTILE_HEADER = "okno-faults-hostile"
READ_MODEL_TABLES = ("card", "stage_visits", "inbox", "applicant_timeline", "stats_daily")


class Load:
    """`okno load` running in the background; finish() waits and returns its JSON summary with
    `ids`: {request id text: events predicted (0: refused)}."""

    def __init__(self, rig, messages, rate, seed, extra):
        self.rig = rig
        self.ids_path = Path(tempfile.mkstemp(prefix="okno-faults-ids-", dir=BUILD)[1])
        args = [str(OKNO), "load", "--bootstrap", rig.s.bootstrap, "--pg", rig.s.app_conninfo,
                "--topic", rig.s.topics["transitions"], "--messages", str(messages),
                "--seed", str(seed), "--rate", str(rate), "--expect-ids", str(self.ids_path),
                *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)

    def running(self):
        return self.proc.poll() is None

    def finish(self, timeout_s=4 * WAIT_S):
        out, err = self.proc.communicate(timeout=timeout_s)
        assert self.proc.returncode == 0, f"okno load failed ({self.proc.returncode}): {err}"
        expect = json.loads(out.strip().splitlines()[-1])
        ids = {}
        for line in self.ids_path.read_text().splitlines():
            rid, events = line.split("\t")
            ids[rid] = int(events)
        self.ids_path.unlink()
        expect["ids"] = ids
        self.rig.add_expected(expect)
        return expect


class Rig:
    """A cluster of the test's own (unless shared=True: the ctest fixture's cluster, for
    scenarios that do not kill PostgreSQL or the broker), a scratch database and topics, and
    okno services as real processes, by name."""

    def __init__(self, name, shared=False, partitions=8, up_args=()):
        self.name = name
        self.partitions = partitions
        self.cluster = None if shared else LocalCluster(f"faults-{name}", *up_args)
        try:
            self.s = Scratch(f"faults_{name}", partitions=partitions)
        except BaseException:
            self.close()
            raise
        self.group = f"ledger-{self.s.tag}"
        self.procs = {}  # name -> Popen, the current process of each service
        self.service_settings = {}  # service -> settings every start of it gets
        self.hostile = 0  # hostile records produced to the transitions topic (malformed)
        self.hostile_sla = 0  # and to the SLA topic
        self.hostile_events = 0  # and to the events topic (marked with HOSTILE_HEADER)
        # The services' shared clock (OKNO_CLOCK__SPEED, OKNO_CLOCK__ORIGIN_MS) for the ledger and
        # the timer, which read it (the relay and the projector do not): see fast_clock().
        self.clock_env = {}
        self.speed = 1
        self.timers_ran = False  # the oracle's (g) then also audits that no deadline was missed
        # Real seconds a signal may take past its due time (a rebalance, a dead timer's session).
        self.signal_grace_s = 60
        # What every load so far predicts, summed: the oracle judges the database as a whole.
        self.expected = {"records": 0, "expected_events": 0, "malformed": 0, "ids": {}}

    def expect_refused(self, ids):
        """Request ids a scenario sent itself that the ledger must refuse."""
        self.expected["ids"].update({rid: 0 for rid in ids})

    def add_expected(self, expect):
        for key in ("records", "expected_events", "malformed"):
            self.expected[key] += expect[key]
        self.expected["ids"].update(expect["ids"])

    def topic(self, name, partitions=8):
        """A scratch topic beyond the Scratch's own (e.g. notifications): made once, deleted
        with the others."""
        if name not in self.s.topics:
            from confluent_kafka.admin import AdminClient, NewTopic
            full = f"okno.test.{self.s.tag}.{name}"
            admin = AdminClient({"bootstrap.servers": self.s.bootstrap})
            futures = admin.create_topics([NewTopic(full, partitions, 1)])
            for f in futures.values():
                f.result(30)
            self.s.topics[name] = full
        return self.s.topics[name]

    # --- services -------------------------------------------------------------------------
    def fast_clock(self, speed):
        """Runs the ledger and the timer started from now on on a shared clock `speed` times
        real time (from now), so stage times and answer deadlines pass during a scenario."""
        self.speed = speed
        self.clock_env = {"OKNO_CLOCK__SPEED": str(speed),
                          "OKNO_CLOCK__ORIGIN_MS": str(int(time.time() * 1000))}

    def settings(self, service):
        s = self.s
        return {
            "ledger": {"ledger.group_id": self.group,
                       "ledger.transitions_topic": s.topics["transitions"],
                       "ledger.sla_topic": s.topics["sla"], "log.level": "warn"},
            "relay": {"relay.events_topic": s.topics["events"],
                      "relay.rejections_topic": s.topics["rejections"]},
            "projector": {},
            "timer": {"timer.group_id": f"timer-{s.tag}", "timer.events_topic": s.topics["events"],
                      "timer.sla_topic": s.topics["sla"]},
            # The daily digest and weekly report depend on the hour: off, so a scenario's mail
            # is a function of its load.
            "notifier": {"notifier.topic": self.topic("notifications"),
                         "notifier.digest": "false", "notifier.weekly": "false",
                         "mail.from": "okno@faults.test", "mail.timeout": "3s",
                         "mail.retry_backoff": "100ms", "mail.retry_backoff_max": "1s",
                         "notifier.idle_poll": "20ms", "log.level": "warn"},
        }[service]

    def spawn(self, service, wait_ready=True, env=None, log_name=None, **settings):
        """Starts one more okno-SERVICE (e.g. a standby) and returns its process. log_name: its
        own log file, BUILD/<tag>.<log_name>.log (proc.log_path), rather than the service's."""
        merged = {**self.settings(service), **self.service_settings.get(service, {}), **settings}
        saved = dict(os.environ)
        if service in ("ledger", "timer"):
            os.environ.update(self.clock_env)
        os.environ.update(env or {})
        self.timers_ran |= service == "timer"
        try:
            if wait_ready and log_name is None:
                proc = self.s.start(service, **merged)
            else:
                proc = self._start_nowait(service, merged, log_name)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        proc.service = service
        if wait_ready and log_name is not None:
            wait_until(f"okno-{service} to be ready",
                       lambda: ready(proc.admin_port) or proc.poll() is not None)
            assert proc.poll() is None, f"okno-{service} exited with {proc.returncode}"
        return proc

    def _start_nowait(self, service, settings, log_name=None):
        s = self.s
        env = dict(os.environ)
        port = free_port()
        env.update({"OKNO_ADMIN__LISTEN": f"127.0.0.1:{port}", "OKNO_PG__CONNINFO": s.app_conninfo,
                    "OKNO_KAFKA__BOOTSTRAP__SERVERS": s.bootstrap})
        for key, value in settings.items():
            env["OKNO_" + key.upper().replace(".", "__")] = str(value)
        log_path = BUILD / f"{s.tag}.{log_name or service}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([str(BUILD / "services" / service / f"okno-{service}")],
                                    env=env, stdout=log, stderr=log, start_new_session=True)
        proc.admin_port = port
        proc.log_path = log_path
        s.processes.append(proc)
        return proc

    def start(self, *services, env=None):
        for service in services:
            self.procs[service] = self.spawn(service, env=env)

    def restart(self, service, env=None):
        proc = self.procs.get(service)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.procs[service] = self.spawn(service, env=env)

    def quiesce_timers(self):
        """Stops every timer (SIGTERM) and waits until the log stops growing: the signals in
        flight are recorded, and no new deadline adds to the log while the oracle compares."""
        for proc in self.s.processes:
            if getattr(proc, "service", "") == "timer" and proc.poll() is None:
                proc.terminate()
                proc.wait(60)
        last = [None, time.monotonic()]

        def resting():
            n = self.s.scalar("select count(*) from okno.event_log")
            if n != last[0]:
                last[:] = [n, time.monotonic()]
            return time.monotonic() - last[1] >= 3
        wait_until("the log to rest after the timers stopped", resting, WAIT_S)

    @staticmethod
    def stopped(proc):
        """proc is stopped (SIGSTOP, or stopped itself): state T in /proc/PID/stat."""
        try:
            stat = Path(f"/proc/{proc.pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")

    def ready(self, proc):
        return proc.poll() is None and ready(proc.admin_port)

    def all_ready(self):
        """Every current service process is ready."""
        return all(self.ready(p) for p in self.procs.values())

    def metric(self, proc, name, labels=""):
        """The sum of a counter's samples on proc's /metrics whose labels contain `labels`
        (0 when absent)."""
        with socket.create_connection(("127.0.0.1", proc.admin_port), timeout=5) as c:
            c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := c.recv(65536):
                data += chunk
        total = 0.0
        for line in data.decode().splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{") and \
                    labels in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    # --- load ------------------------------------------------------------------------------
    def load(self, messages=1000, rate=0, seed=14, *extra):
        return Load(self, messages, rate, seed, extra)

    def load_under_way(self, fault, messages=1500, rate=800, seed=14):
        """A load started and still running two seconds later, for `fault` to strike."""
        load = self.load(messages, rate, seed)
        time.sleep(2)
        assert load.running(), f"the load ended before {fault}"
        return load

    def send(self, steps):
        """Produces requests of the test's own, each one the ledger must accept with one event:
        steps is [(action, message uuid, user, org, payload)]. Declared to the oracle."""
        from confluent_kafka import Producer
        from okno_client import PRODUCER_CONF, Schemas, request
        if not hasattr(self, "_producer"):
            self._producer = Producer({"bootstrap.servers": self.s.bootstrap, **PRODUCER_CONF})
            self._schemas = Schemas()
        for action, mid, user, org, payload in steps:
            rid = uuid.uuid4()
            self._producer.produce(self.s.topics["transitions"], key=str(mid),
                                   value=self._schemas.encode("TransitionRequest", request(
                                       action, mid, user, org, payload, request_id=rid)))
            self.add_expected({"records": 1, "expected_events": 1, "malformed": 0,
                               "ids": {str(rid): 1}})
        left = self._producer.flush(WAIT_S)
        assert left == 0, f"{left} requests of the test's own not delivered in {WAIT_S:.0f} s"

    def submit(self, n, category=1, first_applicant=500000):
        """n messages submitted through the portal that stay in moderation until a test moves
        them (their deadlines fall due); returns their ids."""
        ids = [uuid.uuid4() for _ in range(n)]
        self.send([("submit", m, first_applicant + i, 0, {
            "channel": "portal", "applicant_id": first_applicant + i, "category_id": category,
            "subcategory_id": None, "text": f"Waiting message {i}"}) for i, m in enumerate(ids)])
        return ids

    def accept(self, ids):
        """Moderation accepts messages (to coordination at org 1010): a new stage visit."""
        self.send([("accept", m, 101, 1, {"target_org_id": 1010, "category_id": None,
                                          "subcategory_id": None}) for m in ids])

    def settle(self, timeout_s=None):
        """Waits until the ledger group has consumed every record produced (the loads' and the
        hostile ones)."""
        records = self.expected["records"] + self.hostile
        wait_until("the ledger to consume every record",
                   lambda: self.s.consumed(self.group) == records, timeout_s or 2 * WAIT_S)

    # --- infrastructure faults (own cluster only) ---------------------------------------------
    def kafka_pid(self):
        return int((self.cluster.work / "kafka" / "broker.pid").read_text())

    def kill_broker(self):
        os.kill(self.kafka_pid(), signal.SIGKILL)
        wait_until("the broker to die", lambda: not _alive(self.kafka_pid()), timeout_s=30)

    def pg_stop_immediate(self):
        data = self.pg_data()
        subprocess.run(["runuser", "-u", self.cluster.conf.get("OKNO_PG_OS_USER", "okno"), "--",
                        "/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(data), "-m", "immediate",
                        "-w", "stop"], check=True, cwd="/", capture_output=True)

    def stop_broker(self):
        """Stops the broker gracefully (SIGTERM) and waits for it to exit."""
        pid = self.kafka_pid()
        os.kill(pid, signal.SIGTERM)
        wait_until("the broker to stop", lambda: not _alive(pid), timeout_s=90)

    def pg_data(self):
        return Path(os.path.realpath(self.cluster.work / "pg")) / "data"

    def pg_stop(self):
        subprocess.run(["runuser", "-u", self.cluster.conf.get("OKNO_PG_OS_USER", "okno"), "--",
                        "/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(self.pg_data()), "-m",
                        "fast", "-w", "stop"], check=True, cwd="/", capture_output=True)

    def cluster_up(self):
        """deploy/local/up --no-services: starts what is down (the broker, PostgreSQL)."""
        self.cluster.up()

    def move_onto(self, disks):
        """Moves PostgreSQL's pg_wal onto disks["pg"] and the broker's log directory onto
        disks["kafka"] (SmallDisks; either may be absent), stopping each for the move and
        starting the cluster again; keeps them as self.disks."""
        if "pg" in disks:
            os_user = self.cluster.conf.get("OKNO_PG_OS_USER", "okno")
            self.pg_stop()
            disks["pg"].move_in(self.pg_data() / "pg_wal", owner=f"{os_user}:{os_user}")
        if "kafka" in disks:
            self.stop_broker()
            disks["kafka"].move_in(self.cluster.work / "kafka" / "data")
        self.cluster_up()
        self.disks = disks

    def pg_answers(self):
        try:
            self.s.sql("select 1")
        except subprocess.CalledProcessError:
            return False
        return True

    def restart_what_stopped(self):
        """After a full disk: PostgreSQL restarts itself after a PANIC unless its crash recovery
        failed too (then the postmaster is gone); a broker whose only log directory failed
        stops. What stopped is started again, as a supervisor would; what runs is waited for."""
        def back():
            stopped = [name for name, gone in (
                ("PostgreSQL", not (self.pg_data() / "postmaster.pid").exists()),
                ("the broker", not _alive(self.kafka_pid()))) if gone]
            if stopped:
                print(f"started again after the full disk: {', '.join(stopped)}")
                self.cluster_up()
            return self.pg_answers()
        wait_until("PostgreSQL and the broker to be back", back, WAIT_S)

    def close(self):
        self.__dict__.pop("_producer", None)  # its threads would call a stopped broker
        if getattr(self, "s", None) is not None:
            for proc in self.s.processes:
                if proc.poll() is None:
                    try:
                        os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot exit
                    except ProcessLookupError:
                        pass
            try:
                self.s.close()
            except Exception as e:  # the cluster may be the broken part; it goes next anyway
                print(f"faults: scratch cleanup: {e}", file=sys.stderr)
        if self.cluster is not None:
            self.cluster.close()


class MailSink:
    """A real SMTP server of the test's own (tests/integration/smtp/smtp_sink.py, Debian's
    python3-aiosmtpd, hence /usr/bin/python3) on a free port: `url` for mail.url; mails() every
    mail it accepted, in order (a dict each, with `message_id`). Stopped by close(), also when the test dies (its stdin closes)."""

    SCRIPT = HERE.parents[0] / "integration" / "smtp" / "smtp_sink.py"

    def __init__(self):
        fd, path = tempfile.mkstemp(prefix="okno-faults-mail-", suffix=".jsonl", dir=BUILD)
        os.close(fd)
        self.path = Path(path)
        self.proc = subprocess.Popen(["/usr/bin/python3", str(self.SCRIPT), "0", str(self.path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.url = f"smtp://127.0.0.1:{self.port}"

    def mails(self):
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def message_ids(self):
        """The notification ids of the mails accepted (Message-ID: <id@domain>), repeats kept."""
        return [m["message_id"].strip("<>").split("@")[0] for m in self.mails()]

    def hold(self):
        """From now, the next mail's DATA waits unanswered until release()."""
        Path(f"{self.path}.arrived").unlink(missing_ok=True)
        Path(f"{self.path}.hold").touch()

    def arrived(self):
        """A held mail's DATA has arrived (and waits for release())."""
        return Path(f"{self.path}.arrived").exists()

    def release(self):
        Path(f"{self.path}.hold").unlink(missing_ok=True)

    def close(self):
        self.release()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.path.unlink(missing_ok=True)
        Path(f"{self.path}.arrived").unlink(missing_ok=True)


class Unavailable(Exception):
    """The machine does not allow a fault (no privilege, no tool): the scenario is skipped, with
    this reason, never passed."""


class SmallDisk:
    """A small tmpfs the test mounts itself (`mount -t tmpfs -o size=...`), filled by a balloon
    file the test writes and freed by deleting it. Raises Unavailable where mounting is not
    allowed (no root, a container without CAP_SYS_ADMIN)."""

    def __init__(self, name, size_mb=64):
        self.path = Path(tempfile.mkdtemp(prefix=f"okno-faults-{name}-", dir="/var/tmp"))
        self.balloon = self.path / "balloon"
        try:
            out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755",
                                  "tmpfs", str(self.path)], capture_output=True, text=True)
        except FileNotFoundError:
            out = None
        if out is None or out.returncode != 0:
            self.path.rmdir()
            raise Unavailable("this machine does not allow mounting a tmpfs: " +
                              ("no mount command" if out is None else out.stderr.strip()))
        self.mounted = True

    def free_bytes(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self):
        """Writes the balloon until the filesystem is full (ENOSPC)."""
        chunk = b"\0" * (1 << 20)
        with open(self.balloon, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError as e:
                if e.errno != 28:
                    raise
        return self.free_bytes()

    def free(self):
        self.balloon.unlink(missing_ok=True)

    def move_in(self, src, owner=None):
        """Moves directory src onto this filesystem and leaves a symbolic link in its place."""
        dst = self.path / src.name
        subprocess.run(["cp", "-a", "--sparse=always", str(src), str(dst)], check=True)
        if owner is not None:
            subprocess.run(["chown", "-R", owner, str(dst)], check=True)
        os.chmod(dst, os.stat(src).st_mode)
        shutil.rmtree(src)
        os.symlink(dst, src)

    def close(self):
        if not self.mounted:
            return
        for _ in range(30):
            if subprocess.run(["umount", str(self.path)], capture_output=True).returncode == 0:
                break
            time.sleep(1)  # a process that had files there is still exiting
        else:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
        self.mounted = False
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NetCut:
    """Cuts the TCP traffic of one port silently, as a pulled cable or a dead switch does: an
    nftables table of the test's own DROPs every packet to and from the port (established
    connections included), so peers see no reset, only silence. Raises Unavailable without nft
    or the privilege to use it."""

    def __init__(self, port):
        self.port = int(port)
        self.table = f"okno_faults_{os.getpid()}_{self.port}"
        self.cut_now = False
        if shutil.which("nft") is None:
            raise Unavailable("nft (nftables) is not installed")
        self.remove_orphans()
        probe = subprocess.run(["nft", "add", "table", "inet", self.table], capture_output=True,
                               text=True)
        if probe.returncode != 0:
            raise Unavailable(f"nft is not allowed here: {probe.stderr.strip()}")
        try:
            self._nft("add", "chain", "inet", self.table, "input",
                      "{ type filter hook input priority -10 ; policy accept ; }")
        except subprocess.CalledProcessError as e:
            self.close()
            raise Unavailable(f"nft cannot add a filter chain here: {e.stderr.strip()}") from e

    @staticmethod
    def remove_orphans():
        """Removes the tables of test processes that are gone (one killed by ctest's timeout
        could not remove its own, and its cut would outlive it)."""
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        for name in re.findall(r"^table inet (okno_faults_(\d+)_\d+)$", tables, re.M):
            if not Path(f"/proc/{name[1]}").exists():
                subprocess.run(["nft", "delete", "table", "inet", name[0]], capture_output=True)

    def _nft(self, *args):
        subprocess.run(["nft", *args], check=True, capture_output=True, text=True)

    def cut(self):
        for direction in ("dport", "sport"):
            self._nft("add", "rule", "inet", self.table, "input", "tcp", direction,
                      str(self.port), "drop")
        self.cut_now = True

    def restore(self):
        self._nft("flush", "chain", "inet", self.table, "input")
        self.cut_now = False

    def close(self):
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def cut_rig(name, port_of, services, settings=None, shared=False):
    """A module fixture's body (`yield from cut_rig(...)`): skips (pytest.skip) where nft is
    missing or not allowed, before anything starts; else a Rig whose `cut` is a NetCut of
    port_of(rig), its services started with settings {service: {key: value}}; afterwards the
    rules are removed, then the rig closed."""
    import pytest
    try:
        NetCut(1).close()  # the probe: nft present and allowed
    except Unavailable as e:
        pytest.skip(str(e))
    with contextlib.ExitStack() as stack:  # removes the rules, then closes the rig
        r = Rig(name, shared=shared)
        stack.callback(r.close)
        r.cut = stack.enter_context(NetCut(port_of(r)))
        r.service_settings.update(settings or {})
        r.start(*services)
        yield r


def notifier_caught_up(rig):
    """The notifier's cursor is at the log's last event and no mail is pending."""
    return rig.s.sql(
        "select (select (cursor_tx, cursor_position) from okno.notifier_cursor "
        "where name = 'default') = (select (tx, position) from okno.event_log "
        "order by tx desc, position desc limit 1), (select count(*) from okno.notifications "
        "where mail_state = 'pending')")[0] == ["t", "0"]


def mails_not_once(rig, sinks):
    """What breaks "every notification with an address is mailed exactly once" across the mail
    sinks (MailSink) the notifiers used: a list of violations, empty when it holds."""
    sent = [i for s in sinks for i in s.message_ids()]
    v = [f"mailed {sent.count(i)} times: {i}" for i in sorted(set(sent)) if sent.count(i) > 1]
    rows = {r[0] for r in rig.s.sql("select notification_id from okno.notifications "
                                    "where mail_state = 'sent'")}
    if set(sent) != rows:
        v.append(f"{len(set(sent) - rows)} mailed but not marked sent, "
                 f"{len(rows - set(sent))} marked sent but not mailed")
    unsent = rig.s.scalar("select count(*) from okno.notifications where email is not null "
                          "and mail_state <> 'sent'")
    if unsent:
        v.append(f"{unsent} notifications with an address not sent")
    return v


def ride_out_cut(rig, services, cut_at, cut_s, what):
    """Until cut_s after cut_at (time.monotonic()), checks every 2 s that each service is alive
    and not hung (answers its admin endpoint, 5 s socket timeout); then restores the link and
    waits for every service to be ready again, and prints how long that took."""
    while time.monotonic() - cut_at < cut_s:
        for s in services:
            proc = rig.procs[s]
            assert proc.poll() is None, f"okno-{s} exited while {what} was cut off"
            rig.metric(proc, "okno_")
        time.sleep(2)
    rig.cut.restore()
    restored_at = time.monotonic()
    wait_until("every service to be ready again after the link came back", rig.all_ready, WAIT_S)
    print(f"services ready {time.monotonic() - restored_at:.1f} s after the link came back")


def read_whole_topic(bootstrap, topic, timeout_s=WAIT_S):
    """Every record of topic up to each partition's high watermark at the call (a topic with
    repeated records cannot be read "until N records have come")."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"oracle-{uuid.uuid4()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        parts = c.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        left = {p for p, end in ends.items() if end > 0}
        records, deadline = [], time.monotonic() + timeout_s
        while left and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error() is not None:
                    continue
                records.append(m)
                if m.offset() + 1 >= ends[m.partition()]:
                    left.discard(m.partition())
        assert not left, f"{topic}: partitions {sorted(left)} not read to their end in time"
        return records
    finally:
        c.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Oracle:
    """Checks (a)-(h) of issue 14 on a rig after a scenario and its recovery. check() returns
    the violations, one sentence each; an empty list means every check held."""

    def __init__(self, rig):
        self.rig = rig
        self.s = rig.s

    def check(self, replay=True, events_topic=True, exact=True):
        """Judges everything every finished load of the rig predicted. exact=False skips (a)'s
        comparison of each request with the prediction (for scenarios whose clock differs from
        the generator's)."""
        v = []
        expect = self.rig.expected
        self.rig.settle()
        if exact:
            v += self.accepted_as_predicted(expect)
        v += self.nothing_twice()
        v += self.no_gaps_and_time_forward()
        v += self.verify_passes()
        v += self.refused_once_with_reason(expect)
        v += self.sla_signals_once()
        if self.rig.timers_ran:
            v += self.sla_signals_due_recorded()
            self.rig.quiesce_timers()  # (h) and (c) compare snapshots of a log that must rest
        if events_topic:
            v += self.events_topic_matches_log()
        if replay:
            v += self.read_models_equal_replay()
        for line in v:
            print(f"oracle violation: {line}", file=sys.stderr)
        return v

    # (a) the event log holds exactly the accepted requests, by request id, as predicted
    def accepted_as_predicted(self, expect):
        v = []
        ids = expect["ids"]
        rows = self.s.sql("select r.request_id, r.events, coalesce(f.reason_code, '') "
                          "from okno.requests r left join okno.refusals f using (request_id)")
        seen = set()
        sla_ids = {r[0] for r in self.s.sql(
            "select distinct request_id from okno.event_log where event_type in (%s) union "
            "select request_id from okno.refusals where source_topic = '%s'" % (
                ",".join(f"'{t}'" for t in SLA_TYPES), self.s.topics["sla"]))}
        for rid, events, reason in rows:
            if rid in ids:
                seen.add(rid)
                if int(events) != ids[rid]:
                    v.append(f"(a) request {rid}: {events} events recorded, {ids[rid]} predicted")
            elif reason != "malformed_record" and rid not in sla_ids:
                v.append(f"(a) request {rid} recorded ({events} events, refusal '{reason}') "
                         "but never sent")
        for rid in ids.keys() - seen:
            v.append(f"(a) request {rid} sent ({ids[rid]} events predicted) but not recorded")
        logged = self.s.scalar("select count(*) from okno.event_log where event_type not in (%s)"
                               % ",".join(f"'{t}'" for t in SLA_TYPES))
        if logged != expect["expected_events"]:
            v.append(f"(a) {logged} request events in the log, {expect['expected_events']} "
                     "predicted")
        counted = self.s.sql("select r.request_id, r.events, count(e.seq) from okno.requests r "
                             "left join okno.event_log e using (request_id) group by 1, 2 "
                             "having count(e.seq) <> r.events limit 5")
        for rid, events, found in counted:
            v.append(f"(a) request {rid} says {events} events, the log holds {found}")
        return v

    # (b) no repeated request id, no repeated (message, seq)
    def each_row(self, sql, describe):
        """One violation per row the query finds (it limits itself), described by describe(*row)."""
        return [describe(*row) for row in self.s.sql(sql)]

    def nothing_twice(self):
        return (
            self.each_row("select message_id, seq, count(*) from okno.event_log "
                          "group by 1, 2 having count(*) > 1 limit 5",
                          lambda mid, seq, n: f"(b) message {mid} has {n} events with seq {seq}")
            + self.each_row("select request_id, count(distinct message_id) from okno.event_log "
                            "group by 1 having count(distinct message_id) > 1 limit 5",
                            lambda rid, n: f"(b) request {rid} appended to {n} messages")
            + self.each_row("select request_id, count(*) from okno.requests group by 1 "
                            "having count(*) > 1 limit 5",
                            lambda rid, n: f"(b) request id {rid} recorded {n} times")
            + self.each_row(
                "select request_id, string_agg(seq::text, ',' order by seq) from okno.event_log "
                "group by request_id, message_id having max(seq) - min(seq) + 1 <> count(*) "
                "limit 5",
                lambda rid, seqs: f"(b) request {rid}'s events are not consecutive (seqs {seqs}): "
                "applied twice"))

    # (d) no per-message sequence gap; recorded times never go backwards within a message
    def no_gaps_and_time_forward(self):
        return (
            self.each_row(
                "select message_id, min(seq), max(seq), count(*) from okno.event_log group by 1 "
                "having min(seq) <> 1 or max(seq) <> count(*) limit 5",
                lambda mid, lo, hi, n: f"(d) message {mid}: seqs {lo}..{hi} but {n} events (a gap)")
            + self.each_row(
                "select message_id, seq from (select message_id, seq, occurred_at < lag(occurred_at)"
                " over (partition by message_id order by seq) as back from okno.event_log) x "
                "where back limit 5",
                lambda mid, seq: f"(d) message {mid}: event {seq} occurred before event "
                f"{int(seq) - 1}"))

    # (e) okno verify passes
    def verify_passes(self):
        out = subprocess.run([str(OKNO), "verify", "--pg", self.s.admin_conninfo],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return [f"(e) okno verify failed ({out.returncode}): {(out.stdout + out.stderr)[-400:]}"]
        return []

    # (f) every bad input refused once with a stored reason
    def refused_once_with_reason(self, expect):
        v = []
        refused = self.s.scalar("select count(*) from okno.requests where not accepted")
        stored = self.s.scalar("select count(*) from okno.refusals")
        if refused != stored:
            v.append(f"(f) {refused} requests recorded as refused, {stored} refusals stored")
        for rid, in self.s.sql("select r.request_id from okno.requests r left join okno.refusals f"
                               " using (request_id) where not r.accepted and (f.request_id is null"
                               " or f.reason_code = '' or f.message = '') limit 5"):
            v.append(f"(f) request {rid} refused without a stored reason")
        malformed = self.s.scalar("select count(*) from okno.refusals "
                                  "where reason_code = 'malformed_record'")
        want = expect["malformed"] + self.rig.hostile + self.rig.hostile_sla
        if malformed != want:
            v.append(f"(f) {malformed} malformed_record refusals, {want} malformed records sent")
        for src, n in self.s.sql("select source_topic || ':' || source_partition || ':' || "
                                 "source_offset, count(*) from okno.refusals where reason_code = "
                                 "'malformed_record' group by 1 having count(*) > 1 limit 5"):
            v.append(f"(f) the record at {src} refused {n} times")
        return v

    # (g) every SLA signal exactly once: a second signal of a kind needs a new stage visit or
    # deadline, i.e. a request's event in between
    def sla_signals_once(self):
        v = []
        types = ",".join(f"'{t}'" for t in SLA_TYPES)
        for mid, kind, a, b in self.s.sql(
                f"with s as (select message_id, seq, event_type from okno.event_log "
                f"where event_type in ({types})), p as (select message_id, seq, event_type, "
                f"lag(seq) over (partition by message_id, event_type order by seq) prev from s) "
                f"select message_id, event_type, prev, seq from p where prev is not null and "
                f"not exists (select 1 from okno.event_log e where e.message_id = p.message_id "
                f"and e.seq > p.prev and e.seq < p.seq and e.event_type not in ({types})) "
                f"limit 5"):
            v.append(f"(g) message {mid}: {kind} recorded twice (events {a} and {b}) with no "
                     "step between")
        return v

    # (g) no deadline missed: `okno audit --signals` folds every message's events with the core;
    # each signal due more than the grace before the message's next step (or before until_ms,
    # default now on the services' clock) must be recorded, once
    def sla_signals_due_recorded(self, until_ms=None):
        self.last_signals = audit = self.audit_signals(until_ms)
        v = [f"(g) message {x['message_id']}: {x['signal']} {x['what']} (due {x['due_ms']}, "
             f"{'next step' if x['what'] == 'missed' else 'recorded'} at {x['at_ms']}, after "
             f"seq {x['after_seq']})" for x in audit["violations"]]
        if audit["missed"] + audit["repeated"] > len(v):
            v.append(f"(g) {audit['missed']} signals missed and {audit['repeated']} repeated in "
                     "all")
        return v

    def audit_signals(self, until_ms=None):
        """`okno audit --signals --json` on the rig's clock: its JSON summary."""
        grace_ms = int(self.rig.signal_grace_s * 1000 * self.rig.speed)
        args = [str(OKNO), "audit", "--signals", "--json", "--grace-ms", str(grace_ms), "--pg",
                self.s.admin_conninfo] + ([] if until_ms is None else ["--until-ms", str(until_ms)])
        out = subprocess.run(args, capture_output=True, text=True,
                             env={**os.environ, **self.rig.clock_env})
        if out.returncode not in (0, 1) or not out.stdout.strip():
            raise AssertionError(f"okno audit --signals failed ({out.returncode}): {out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    # (h) okno.events.v1 holds each logged event at least once; de-duplicated, exactly the log
    def events_topic_matches_log(self):
        log = {(mid, int(seq)): kind for mid, seq, kind in
               self.s.sql("select message_id, seq, event_type from okno.event_log")}
        wait_until("the relay to publish every event",
                   lambda: self._published_position() >= self._log_position(), 2 * WAIT_S)
        schemas = schemas_by_fingerprint()
        seen = {}
        for m in read_whole_topic(self.s.bootstrap, self.s.topics["events"]):
            if HOSTILE_HEADER in dict(m.headers() or []):
                continue  # a hostile record a scenario put there itself
            _, ev = decode(m.value(), schemas)
            key = (str(uuid.UUID(bytes=ev["message_id"])), ev["seq"])
            seen[key] = ev["type"]
        v = []
        missing = log.keys() - seen.keys()
        extra = seen.keys() - log.keys()
        if missing:
            v.append(f"(h) {len(missing)} logged events never reached okno.events.v1, e.g. "
                     f"{sorted(missing)[0]}")
        if extra:
            v.append(f"(h) {len(extra)} events on okno.events.v1 are not in the log, e.g. "
                     f"{sorted(extra)[0]}")
        differ = [k for k in log.keys() & seen.keys() if str(seen[k]) != log[k]]
        if differ:
            v.append(f"(h) {len(differ)} events differ between the log and okno.events.v1, e.g. "
                     f"{differ[0]}: {log[differ[0]]} vs {seen[differ[0]]}")
        return v

    def _log_position(self):
        return self.s.scalar("select count(*) from okno.event_log")

    def _published_position(self):
        rows = self.s.sql("select count(*) from okno.event_log e join okno.relay_cursors c on "
                          "c.stream = 'events' and (e.tx, e.position) <= (c.tx, c.position)")
        return int(rows[0][0]) if rows else 0

    # (c) the read models equal a fresh okno replay
    def read_models_equal_replay(self):
        schema = "okno_rm_oracle"
        events = self._log_position()
        wait_until("the projector to catch up",
                   lambda: self.s.scalar("select coalesce(sum(seq), 0) from okno_rm.card") ==
                   events, 2 * WAIT_S)
        okno("replay", "--schema", schema, "--pg", self.s.admin_conninfo)
        v = []
        for t in READ_MODEL_TABLES:
            row = self.s.sql(
                f"select (select count(*) from okno_rm.{t}), (select count(*) from {schema}.{t}),"
                f" (select count(*) from (select * from okno_rm.{t} except all "
                f"select * from {schema}.{t}) a), (select count(*) from (select * from "
                f"{schema}.{t} except all select * from okno_rm.{t}) b)")[0]
            if row[2] != "0" or row[3] != "0":
                v.append(f"(c) okno_rm.{t} ({row[0]} rows) differs from a fresh replay ({row[1]} "
                         f"rows): {row[2]} rows only live, {row[3]} only in the replay")
        self.s.sql(f"drop schema if exists {schema} cascade")
        return v
