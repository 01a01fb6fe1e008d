"""Broker and database crashes during load (issue 14, scenarios 3 and 4), on a cluster of the
test's own: the Kafka broker SIGKILLed and restarted; PostgreSQL stopped with
`pg_ctl stop -m immediate` (crash recovery at the restart), once briefly and once staying down
(OKNO_FAULTS_PG_DOWN_S, 20 s by default, 60 s under bench/run chaos). The services stay up,
report not ready while what they need is gone, reconnect by themselves and resume; afterwards
the oracle finds nothing lost and nothing applied twice."""
import os
import time

import pytest

from faults import WAIT_S, Oracle, Rig, wait_until

PG_DOWN_S = float(os.environ.get("OKNO_FAULTS_PG_DOWN_S", "20"))
SERVICES = ("ledger", "relay", "projector")


@pytest.fixture(scope="module")
def rig():
    r = Rig("crash")
    try:
        r.start(*SERVICES)
        yield r
    finally:
        r.close()


def test_broker_sigkill_during_load_loses_nothing_and_services_resume(rig):
    load = rig.load(messages=1500, rate=2500, seed=31)
    time.sleep(2)
    assert load.running(), "the load ended before the broker was killed"
    rig.kill_broker()
    # The ledger has no broker to consume from: it says so on /readyz.
    wait_until("the ledger to report not ready", lambda: not rig.ready(rig.procs["ledger"]), 30)
    time.sleep(5)
    for s in SERVICES:
        assert rig.procs[s].poll() is None, f"okno-{s} exited while the broker was down"
    rig.cluster_up()
    started = time.monotonic()
    load.finish()
    wait_until("every service to be ready again", rig.all_ready, WAIT_S)
    print(f"services ready {time.monotonic() - started:.1f} s after the broker's restart")
    assert Oracle(rig).check() == []


@pytest.mark.parametrize("down_s", [3, PG_DOWN_S], ids=["brief", "long"])
def test_postgres_crash_during_load_loses_nothing_and_services_resume(rig, down_s):
    load = rig.load(messages=1500, rate=2500, seed=int(41 + down_s))
    time.sleep(2)
    assert load.running(), "the load ended before PostgreSQL was stopped"
    rig.pg_stop_immediate()
    wait_until("the ledger to report not ready", lambda: not rig.ready(rig.procs["ledger"]), 30)
    time.sleep(down_s)
    for s in SERVICES:
        assert rig.procs[s].poll() is None, f"okno-{s} exited while PostgreSQL was down"
    rig.cluster_up()
    started = time.monotonic()
    wait_until("every service to be ready again", rig.all_ready, WAIT_S)
    print(f"services ready {time.monotonic() - started:.1f} s after PostgreSQL's restart")
    load.finish()
    assert Oracle(rig).check() == []
