"""Stalls (issue 14, scenario 1), on the shared test cluster: a process stopped with SIGSTOP
keeps its sockets, its PostgreSQL session and its locks, and wakes up later believing nothing
happened.

- A ledger stopped past max.poll.interval.ms loses its partitions to a second ledger; after
  SIGCONT whatever batch it held is fenced by the stored offsets and stream heads, never
  applied, and the oracle finds every request applied once.
- The relay's and the projector's leaders stopped: the leader lock is a session advisory lock
  whose session PostgreSQL ends after OKNO_LOGTAIL_SESSION_TIMEOUT_MS (10 s) idle, so a standby
  takes over within TAKEOVER_BOUND_S although the stopped leader never let go; resumed, the old
  leaders find their sessions gone and stand by. Nothing is lost, duplicated or reordered."""
import os
import signal
import time


from faults import Oracle, wait_until

# The lease (10 s) plus a standby's retry (1 s) plus reconnecting and a step, with room for a
# loaded machine.
TAKEOVER_BOUND_S = 20
# A ledger's group session: short, so the test does not wait out Kafka's 45 s default.
SESSION_MS, MAX_POLL_MS = 6000, 8000




def test_stalled_ledger_past_max_poll_interval_is_fenced_not_applied(rig):
    kafka = {"kafka.consumer.session.timeout.ms": SESSION_MS,
             "kafka.consumer.heartbeat.interval.ms": 1000,
             "kafka.consumer.max.poll.interval.ms": MAX_POLL_MS}
    rig.start("relay", "projector")
    a = rig.spawn("ledger", **kafka)
    b = rig.spawn("ledger", **kafka)
    load = rig.load(messages=1500, rate=1500, seed=51)
    time.sleep(3)
    os.kill(a.pid, signal.SIGSTOP)
    stopped = rig.s.consumed(rig.group)
    # b takes over a's partitions once a's session has expired, and consumes on.
    time.sleep((SESSION_MS + MAX_POLL_MS) / 1000 + 2)
    wait_until("the second ledger to consume a's partitions too",
               lambda: rig.s.consumed(rig.group) > stopped + 1000, 60)
    os.kill(a.pid, signal.SIGCONT)
    load.finish()
    rig.settle()
    assert a.poll() is None and b.poll() is None, "a ledger exited"
    fenced = rig.metric(a, "okno_ledger_conflicts_total") + \
        rig.metric(a, "okno_ledger_resyncs_total")
    print(f"the stalled ledger's fenced batches (conflicts + resyncs): {fenced:.0f}")
    assert Oracle(rig).check() == []


def progress(rig):
    """(relay cursor position, events the projector has applied)."""
    relay = rig.s.sql("select position from okno.relay_cursors where stream = 'events'")
    projector = rig.s.sql("select events_applied from okno_rm.meta")
    return (int(relay[0][0]) if relay else 0, int(projector[0][0]) if projector else 0)


def test_stopped_relay_and_projector_leaders_are_replaced_within_the_bound(rig):
    rig.start("ledger", "relay", "projector")
    standby_relay = rig.spawn("relay")
    standby_projector = rig.spawn("projector")
    rig.load(messages=200, seed=61).finish()
    rig.settle()
    wait_until("relay and projector to catch up", lambda: progress(rig)[1] ==
               rig.s.scalar("select count(*) from okno.event_log"), 60)
    leaders = (rig.procs["relay"], rig.procs["projector"])
    for p in leaders:
        os.kill(p.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    before = progress(rig)
    load = rig.load(messages=600, rate=800, seed=62)
    took = [None, None]

    def moved():
        now = progress(rig)
        for i in (0, 1):
            if took[i] is None and now[i] > before[i]:
                took[i] = time.monotonic() - stopped_at
        return None not in took
    wait_until("the standbys to take over", moved, TAKEOVER_BOUND_S + 10, every_s=0.1)
    print(f"takeover after SIGSTOP of the leader: relay {took[0]:.1f} s, "
          f"projector {took[1]:.1f} s (bound {TAKEOVER_BOUND_S} s)")
    assert max(took) <= TAKEOVER_BOUND_S
    for p in leaders:
        os.kill(p.pid, signal.SIGCONT)
    load.finish()
    # The old leaders wake into dead sessions and stand by; the standbys keep the lead.
    time.sleep(3)
    for p in (*leaders, standby_relay, standby_projector):
        assert p.poll() is None, f"okno-{p.service} exited"
        assert rig.ready(p)
    assert Oracle(rig).check() == []
