"""bench/run handover [--quick]: how long the timers' group takes to hand a quarter of its open
messages from one instance to the others (services/timer, cooperative rebalancing).

N stream heads of open messages (bench_timer heads: one armed deadline each) on 8 partitions;
okno-timer A starts alone and rebuilds all N (`full_rebuild_s`, the floor: what every rebalance
cost before the handover became incremental); B, C and D join one by one, so each owns two
partitions, a quarter of N. Then D leaves (SIGTERM): `handover_leave_s` runs from the signal to
the moment A, B and C own all 8 partitions again and are ready, D's quarter rebuilt among
them; then D starts again and takes a quarter back: `handover_join_s` from its start to the
group settled. `handover_s` is the larger one; goal ≤ 5 s for a quarter of 1 M.
N = 1,000,000 (--quick: 200,000). Last line: one JSON object."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ["OKNO_BUILD"])
BENCH = BUILD / "bench" / "bench_timer"
PARTITIONS = 8
TIMERS = 4


def say(*args):
    print("bench handover:", *args, file=sys.stderr, flush=True)


def cluster_env():
    env = {}
    for line in (ROOT / ".work" / "cluster.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v.strip('"')
    return env


def with_db(conninfo, db):
    return " ".join([p for p in conninfo.split() if not p.startswith("dbname=")] + [f"dbname={db}"])


def psql(conninfo, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port):
    """{series: value} of an instance's /metrics, {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {m[0]: float(m[1]) for m in re.findall(r"^(\w+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Timer:
    def __init__(self, name, env):
        self.name, self.port = name, free_port()
        self.log = BUILD / f"{env['tag']}.{name}.log"
        child = dict(os.environ, OKNO_ADMIN__LISTEN=f"127.0.0.1:{self.port}",
                     OKNO_KAFKA__BOOTSTRAP__SERVERS=env["bootstrap"], OKNO_PG__CONNINFO=env["app"],
                     OKNO_TIMER__GROUP_ID=env["tag"], OKNO_TIMER__EVENTS_TOPIC=env["events"],
                     OKNO_TIMER__SLA_TOPIC=env["sla"])
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(BUILD / "services/timer/okno-timer")], env=child,
                                         stdout=log, stderr=log, start_new_session=True)

    def owned(self):
        return int(metrics(self.port).get("okno_timer_partitions", -1))

    def rebuilt(self):
        """The "deadlines rebuilt" log lines: one per gain of partitions."""
        return [json.loads(line) for line in self.log.read_text().splitlines()
                if '"deadlines rebuilt"' in line]

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)


def settled(timers, timeout_s=600):
    """Waits until the running timers own every partition between them and are ready; seconds."""
    started = time.monotonic()
    while True:
        live = [t for t in timers if t.proc.poll() is None]
        owned = [t.owned() for t in live]
        if sum(owned) == PARTITIONS and min(owned) > 0 and all(ready(t.port) for t in live):
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"bench handover: the group did not settle: {owned}")
        time.sleep(0.05)


def main():
    quick = "--quick" in sys.argv[1:]
    n = 200_000 if quick else 1_000_000
    c = cluster_env()
    tag = f"bench_handover_{os.getpid()}"
    db = f"okno_{tag}"
    admin = with_db(c["OKNO_PG_ADMIN_CONNINFO"], db)
    env = {"tag": tag, "bootstrap": c["OKNO_KAFKA_BOOTSTRAP"], "app": with_db(c["OKNO_PG_CONNINFO"], db),
           "events": f"okno.{tag}.events", "sla": f"okno.{tag}.sla"}
    timers = []
    psql(with_db(c["OKNO_PG_ADMIN_CONNINFO"], "postgres"), f"create database {db}")
    try:
        subprocess.run([str(BUILD / "tools/okno/okno"), "migrate", "--pg", admin], check=True,
                       stdout=sys.stderr)
        psql(admin, "insert into okno.orgs (org_id, parent_id, name) values (1, null, 'Operator');"
                    " insert into okno.workflow_settings (operator_org_id) values (1);"
                    " alter table okno.stream_heads set unlogged")
        say(f"writing {n} stream heads on {PARTITIONS} partitions")
        subprocess.run([str(BENCH), "heads", admin, str(n), str(PARTITIONS)], check=True,
                       stdout=sys.stderr)
        subprocess.run([str(BENCH), "topics", env["bootstrap"], "create", str(PARTITIONS),
                        env["events"], env["sla"]], check=True, stdout=sys.stderr)

        say("timer A alone rebuilds everything")
        timers.append(Timer("A", env))
        settled(timers)
        full_ms = timers[0].rebuilt()[-1]["ms"]
        for name in "BCD":
            say(f"timer {name} joins")
            timers.append(Timer(name, env))
            settled(timers)
            time.sleep(1)
        owned = {t.name: t.owned() for t in timers}
        say(f"partitions owned: {owned}")
        before = {t.name: len(t.rebuilt()) for t in timers[:3]}

        say("timer D leaves: its quarter moves to A, B and C")
        t0 = time.monotonic()
        timers[3].stop()
        settled(timers)
        leave_s = time.monotonic() - t0
        gained = [r for t in timers[:3] for r in t.rebuilt()[before[t.name]:]]
        handed = sum(r["heads"] for r in gained)

        say("timer D comes back and takes a quarter")
        t0 = time.monotonic()
        timers[3] = Timer("D", env)
        settled(timers)
        join_s = time.monotonic() - t0
        took = timers[3].rebuilt()[-1]
        books = {t.name: int(metrics(t.port).get("okno_timer_messages", -1)) for t in timers}
        say(f"messages per timer afterwards: {books}")
        assert sum(books.values()) == n, f"the books hold {sum(books.values())} of {n} messages"
    finally:
        for t in timers:
            t.stop()
        subprocess.run([str(BENCH), "topics", env["bootstrap"], "delete", "1", env["events"],
                        env["sla"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        psql(with_db(c["OKNO_PG_ADMIN_CONNINFO"], "postgres"),
             f"drop database if exists {db} with (force)")
    print(json.dumps({
        "bench": "handover", "quick": quick, "messages": n, "timers": TIMERS,
        "partitions": PARTITIONS, "full_rebuild_s": round(full_ms / 1000, 2),
        "handover_leave_s": round(leave_s, 2), "handed_messages_leave": handed,
        "handover_join_s": round(join_s, 2), "handed_messages_join": took["heads"],
        "handover_s": round(max(leave_s, join_s), 2), "goal_handover_s": 5,
    }))


if __name__ == "__main__":
    main()
