"""Warming the Kafka broker's JIT before a benchmark measures (bench/gateway.py uses it).

A broker that has just started runs its request paths in the JVM's interpreter and first-tier
code while the C2 compiler works through them: the compiler threads took 0.3-0.5 of a core for
the first 30-50 s of the gateway benchmark's steady load (0.5-0.9 under `okno load`, and for
minutes under intermittent load), and the broker answers several times slower meanwhile. The
gateway's quick figures were once measured in that state (3,800-5,100 writes/s, decide p99
360 ms; the same binaries against a warm broker: 9,900-15,600 writes/s, decide p99 47-51 ms). A production broker runs warm. A generic warm-up (`okno load` alone)
was tried and is not enough: the gateway's many small produce requests then made the compiler
work again for minutes, so a benchmark warms with its own load.

Compiler threads are the JVMs' "C1/C2 CompilerThread" tasks of the local brokers (their pid
files under .work/), read from /proc."""
import os
import time
from pathlib import Path

from harness import ROOT

TICKS = os.sysconf("SC_CLK_TCK")
# A round in which the compilers used less than this share of a core ends the warm-up.
JIT_DONE_CORES = 0.03


def broker_pids():
    """The local brokers' pids (deploy/local/kafka.sh's pid files)."""
    work = Path(os.environ.get("OKNO_WORK", ROOT / ".work"))
    pids = []
    for f in [work / "kafka" / "broker.pid", *sorted(work.glob("kafka-*/node*/broker.pid"))]:
        try:
            pid = int(f.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if Path(f"/proc/{pid}").exists():
            pids.append(pid)
    return pids


def jit_seconds(pids):
    """CPU seconds the JVMs' compiler threads have used so far."""
    total = 0.0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            if "CompilerThre" in stat[stat.index("(") + 1:stat.rindex(")")]:
                fields = stat[stat.rindex(")") + 2:].split()
                total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


class JitMeter:
    """The brokers' compiler threads' share of a core between start() and cores()."""

    def __init__(self):
        self.pids = broker_pids()
        self.start()

    def start(self):
        self.t0, self.j0 = time.monotonic(), jit_seconds(self.pids)

    def cores(self):
        elapsed = time.monotonic() - self.t0
        return round((jit_seconds(self.pids) - self.j0) / elapsed, 3) if elapsed > 0 else 0.0


def warm(drive, round_s, max_s, log):
    """Calls drive(round_s) (a round of the benchmark's own load) until the brokers' compilers
    used less than JIT_DONE_CORES over a round, or max_s passed. Returns what it did."""
    meter, started, rounds, jit = JitMeter(), time.monotonic(), 0, None
    if not meter.pids:
        raise SystemExit("bench: no local Kafka broker runs (no broker.pid under .work/)")
    while time.monotonic() - started < max_s:
        meter.start()
        drive(round_s)
        rounds += 1
        jit = meter.cores()
        log(f"warm-up round {rounds}: the broker's JIT compilers {jit:.3f} cores")
        if jit < JIT_DONE_CORES:
            break
    return {"broker_warmup_s": round(time.monotonic() - started, 1),
            "broker_warmup_rounds": rounds, "broker_warmup_jit_cores": jit}
