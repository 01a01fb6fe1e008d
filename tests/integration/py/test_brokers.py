"""Three Kafka brokers (issue 15): `deploy/local/up --brokers 3` in a scratch working folder of
its own (its own ports, PostgreSQL and brokers; a developer's running cluster is not touched)
gives a three-voter KRaft quorum with every okno topic on 24 partitions, replication factor 3
and min.insync.replicas=2; a broker SIGKILLed during `okno load` loses no acknowledged record:
the event log holds exactly what the load predicted, and okno.events.v1 every event of it.
Everything the test started is stopped (and its data deleted), also when it fails."""
import json
import re
import subprocess
import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from harness import ROOT, WAIT_S, LocalCluster, Scratch, cluster_env, distinct_events, wait_until
from test_ledger import caught_up, check_log_matches

TOPICS = ("okno.transitions.v1", "okno.events.v1", "okno.rejections.v1", "okno.sla.v1",
          "okno.notifications.v1")


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster("scale-brokers", "--brokers", "3")
    yield c
    c.close()


def bootstrap():
    return cluster_env()["OKNO_KAFKA_BOOTSTRAP"]


def under_replicated(admin, topics):
    """Partitions of topics whose in-sync replicas are fewer than their replicas."""
    md = admin.list_topics(timeout=30)
    return [(t, p.id) for t in topics for p in md.topics[t].partitions.values()
            if len(p.isrs) < len(p.replicas)]


def test_three_brokers_replicate_every_topic_three_times_with_two_in_sync(cluster):
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    md = admin.list_topics(timeout=30)
    assert sorted(md.brokers) == [1, 2, 3]
    status = subprocess.run([str(ROOT / "deploy/local/status")], env=cluster.env,
                            capture_output=True, text=True).stdout
    for node in (1, 2, 3):
        assert re.search(rf"^kafka-{node} +up ", status, re.M), status
    for t in TOPICS:
        parts = md.topics[t].partitions
        assert len(parts) == 24, t
        for p in parts.values():
            assert sorted(p.replicas) == [1, 2, 3], (t, p.id)
            assert sorted(p.isrs) == [1, 2, 3], (t, p.id)
    res = ConfigResource(ConfigResource.Type.TOPIC, "okno.events.v1")

    def config():
        return {k: e.value for k, e in admin.describe_configs([res])[res].result(30).items()}
    assert config()["min.insync.replicas"] == "2"
    assert config()["unclean.leader.election.enable"] == "false"
    # A dynamic topic config reaches every broker through the metadata log, a moment later.
    wait_until("okno.events.v1's retention on every broker",
               lambda: config()["retention.ms"] == "-1", timeout_s=30)


def test_a_broker_killed_during_load_loses_no_acknowledged_event(cluster):
    s = Scratch("brokers", partitions=24, replication=3)
    try:
        group = f"ledger-{s.tag}"
        s.start_ledger(group)
        s.start_relay()
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        victim = s.requests_leader()  # so leadership must move under load
        loader = s.load_started("--messages", "3000", "--seed", "15", "--rate", "2500")
        time.sleep(3)
        assert loader.poll() is None, "the load ended before the broker was killed"
        cluster.kill_broker(victim)
        out, _ = loader.communicate(timeout=4 * WAIT_S)
        assert loader.returncode == 0, "okno load failed with a broker down (acks=all, min ISR 2)"
        expect = json.loads(out.strip().splitlines()[-1])
        wait_until("the ledger to consume every record",
                   lambda: caught_up(s, group, expect["records"]))
        check_log_matches(s, expect)
        # Every event the relay had acknowledged is on okno.events.v1, once.
        events = expect["expected_events"]
        wait_until("the relay to publish every event",
                   lambda: s.scalar("select count(*) from okno.event_log") == events)
        assert distinct_events(s.bootstrap, s.topics["events"], events) == events
        # `up` again starts the dead broker; it catches up and rejoins every ISR.
        wait_until("the dead broker to leave the ISRs",
                   lambda: under_replicated(admin, s.topics.values()), timeout_s=60)
        cluster.up()
        wait_until("the restarted broker to rejoin every ISR",
                   lambda: not under_replicated(admin, list(s.topics.values()) + list(TOPICS)))
    finally:
        s.close()
