"""Stalls (issue 14, scenario 1), on the shared test cluster: a process stopped with SIGSTOP
keeps its sockets, its PostgreSQL session and its locks, and wakes up later believing nothing
happened.

- A ledger stopped past max.poll.interval.ms exactly between deciding a batch and appending it
  (the fault injection point ledger.fault_stop_before_append) loses its partitions to a second
  ledger, which decides the same records; after SIGCONT the stale batch's append fails its
  fences (okno_ledger_conflicts_total rises, "batch append failed ... fence" in its log), the
  ledger resyncs from PostgreSQL, and the oracle finds every request applied once.
- The relay's and the projector's leaders stopped: the leader lock is a session advisory lock
  whose session PostgreSQL ends after OKNO_LOGTAIL_SESSION_TIMEOUT_MS (10 s) idle, so a standby
  takes over within TAKEOVER_BOUND_S although the stopped leader never let go; resumed, the old
  leaders find their sessions gone and stand by. Nothing is lost, duplicated or reordered."""
import os
import re
import signal
import time

from faults import BUILD, MailSink, Oracle, mails_not_once, notifier_caught_up, wait_until

# The lease (10 s) plus a standby's retry (1 s) plus reconnecting and a step, with room for a
# loaded machine.
TAKEOVER_BOUND_S = 20
# A ledger's group session: short, so the test does not wait out Kafka's 45 s default.
SESSION_MS, MAX_POLL_MS = 6000, 8000




def stored_offsets(rig):
    """{(topic, partition): next offset} the ledger group has stored in PostgreSQL."""
    return {(t, int(p)): int(o) for t, p, o in rig.s.sql(
        "select topic, partition, next_offset from okno.consumer_offsets "
        f"where group_id = '{rig.group}'")}


def log_lines(proc, text):
    return [line for line in proc.log_path.read_text(errors="replace").splitlines()
            if text in line]


def test_a_ledger_stopped_between_decide_and_append_past_max_poll_interval_is_fenced(rig):
    kafka = {"kafka.consumer.session.timeout.ms": SESSION_MS,
             "kafka.consumer.heartbeat.interval.ms": 1000,
             "kafka.consumer.max.poll.interval.ms": MAX_POLL_MS}
    trigger = BUILD / f"{rig.s.tag}.ledger-a.stop"
    trigger.unlink(missing_ok=True)
    rig.start("relay", "projector")
    # a stops itself at the fault injection point ledger.fault_stop_before_append: its batch
    # decided and encoded, not appended.
    a = rig.spawn("ledger", log_name="ledger-a", **kafka,
                  **{"ledger.fault_stop_before_append": trigger})
    b = rig.spawn("ledger", log_name="ledger-b", **kafka)
    load = rig.load(messages=1500, rate=1500, seed=51)
    wait_until("ledger a to commit batches", lambda: rig.metric(a, "okno_ledger_batches_total") > 0,
               30, every_s=0.1)
    assert rig.metric(a, "okno_ledger_conflicts_total") == 0
    trigger.touch()
    wait_until("ledger a to stop between decide and append", lambda: rig.stopped(a), 30,
               every_s=0.05)
    stopped_at = time.monotonic()
    line = log_lines(a, "fault injection: stopping between decide and append")
    assert len(line) == 1, line
    held = {}
    for item in re.search(r'"offsets":"([^"]*)"', line[0]).group(1).split(","):
        topic, partition, nxt = item.rsplit(":", 2)
        held[(topic, int(partition))] = int(nxt)
    # The batch a holds is decided but not committed: PostgreSQL stores less for each partition.
    stored = stored_offsets(rig)
    assert held and all(stored.get(k, 0) < nxt for k, nxt in held.items()), (held, stored)
    print(f"ledger a stopped holding a decided batch up to {held} (stored: "
          f"{ {k: stored.get(k, 0) for k in held} })")
    # b takes a's partitions once a's session has expired and decides the same records again.
    wait_until("the second ledger to commit the stopped ledger's records",
               lambda: all(stored_offsets(rig).get(k, 0) >= nxt for k, nxt in held.items()),
               (SESSION_MS + MAX_POLL_MS) / 1000 + 60)
    time.sleep(max(0.0, MAX_POLL_MS / 1000 + 1 - (time.monotonic() - stopped_at)))
    os.kill(a.pid, signal.SIGCONT)
    # Resumed, a appends the batch it decided before the stop: the fences refuse it.
    wait_until("the resumed ledger's append to fail its fence",
               lambda: rig.metric(a, "okno_ledger_conflicts_total") > 0, 30, every_s=0.1)
    wait_until("the resumed ledger to resync from PostgreSQL",
               lambda: rig.metric(a, "okno_ledger_resyncs_total") > 0, 30, every_s=0.1)
    assert log_lines(a, "fault injection: continued")
    failed = log_lines(a, "batch append failed")
    assert failed and "fence" in failed[0], failed
    print(f"the resumed ledger's append: {failed[0]}")
    load.finish()
    rig.settle()
    assert a.poll() is None and b.poll() is None, "a ledger exited"
    assert rig.ready(a) and rig.ready(b)
    # Nothing of the stale batch was applied: every request once, no gap, the exact set.
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


# The notifier's lease: OKNO_LOGTAIL_SESSION_TIMEOUT_MS (10 s) plus its longest idle stretch
# (a Kafka flush, 10 s; a mail exchange, mail.timeout), then a standby's retry (1 s), with room
# for a loaded machine.
NOTIFIER_LEASE_S = 20
NOTIFIER_TAKEOVER_BOUND_S = 30


def test_a_stopped_notifier_leader_is_replaced_and_sends_no_mail_twice(rig):
    """The leader stops itself (notifier.fault_stop_before_send) just after claiming a mail: the
    point where a resumed stale leader would send a mail its successor has sent. Each notifier
    mails to its own SMTP server, so what the old leader sends after SIGCONT is seen apart."""
    trigger = BUILD / f"{rig.s.tag}.notifier-a.stop"
    trigger.unlink(missing_ok=True)
    sinks = (MailSink(), MailSink())
    try:
        rig.start("ledger", "relay", "projector")
        leader = rig.spawn("notifier", log_name="notifier-a", **{
            "mail.url": sinks[0].url, "notifier.fault_stop_before_send": trigger})
        rig.load(messages=100, seed=71).finish()
        wait_until("the first notifier to lead and mail", lambda: sinks[0].mails(), 60)
        standby = rig.spawn("notifier", log_name="notifier-b", **{"mail.url": sinks[1].url})
        load = rig.load(messages=600, rate=300, seed=72)
        time.sleep(2)
        trigger.touch()
        wait_until("the leader to stop between a mail's claim and its sending",
                   lambda: rig.stopped(leader), 30, every_s=0.05)
        stopped_at = time.monotonic()
        line = log_lines(leader, "fault injection: stopping between a mail's claim")
        assert len(line) == 1, line
        claimed = re.search(r'"notification":"([0-9a-f-]+)"', line[0]).group(1)
        # The standby takes the lead once PostgreSQL has ended the stopped leader's session.
        wait_until("the standby to take over",
                   lambda: sinks[1].mails() or rig.metric(standby,
                                                          "okno_notifier_events_read_total"),
                   NOTIFIER_TAKEOVER_BOUND_S + 10, every_s=0.1)
        took = time.monotonic() - stopped_at
        print(f"notifier takeover after SIGSTOP of the leader: {took:.1f} s "
              f"(lease {NOTIFIER_LEASE_S} s, bound {NOTIFIER_TAKEOVER_BOUND_S} s)")
        assert took <= NOTIFIER_TAKEOVER_BOUND_S
        # The mail the stopped leader claimed is sent by the standby once the claim lapses.
        wait_until("the standby to send the mail the stopped leader had claimed",
                   lambda: claimed in sinks[1].message_ids(), 60)
        sent_by_old = len(sinks[0].mails())
        os.kill(leader.pid, signal.SIGCONT)
        wait_until("the resumed leader to refuse to send its stale claim",
                   lambda: rig.metric(leader, "okno_notifier_mails_fenced_total") == 1, 30,
                   every_s=0.1)
        assert log_lines(leader, "a mail's claim is too old to send it")
        load.finish()
        rig.settle()
        wait_until("every notification to be made and mailed", lambda: notifier_caught_up(rig),
                   120)
        time.sleep(2)
        # The resumed leader sent nothing: the claimed mail, and every other, went out once.
        assert len(sinks[0].mails()) == sent_by_old
        assert leader.poll() is None and standby.poll() is None, "a notifier exited"
        assert rig.ready(leader) and rig.ready(standby)
        assert mails_not_once(rig, sinks) == []
        sent = [i for s in sinks for i in s.message_ids()]
        print(f"mails: {len(sent)} notifications, each mailed once ({sent_by_old} by the "
              f"first leader, {len(sinks[1].mails())} by the standby)")
        assert Oracle(rig).check() == []
    finally:
        for s in sinks:
            s.close()
