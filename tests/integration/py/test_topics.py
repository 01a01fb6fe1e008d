"""`okno topics` on the local cluster (issue 15): okno.events.v1 is an event stream kept for
consumers that join late (retention.ms=-1, not compacted), and so is okno.checkpoints.v1, the
signed checkpoints (issue 14), in one partition; the other topics keep the broker's time
retention; running it again changes nothing."""
from confluent_kafka.admin import AdminClient, ConfigResource

from harness import cluster_env, okno

TOPICS = ("okno.transitions.v1", "okno.events.v1", "okno.rejections.v1", "okno.sla.v1",
          "okno.notifications.v1")


def topic_config(admin, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([res])[res].result(30)
    return {name: entry.value for name, entry in config.items()}


def test_okno_topics_keeps_the_event_stream_forever_and_the_rest_by_time():
    env = cluster_env()
    admin = AdminClient({"bootstrap.servers": env["OKNO_KAFKA_BOOTSTRAP"]})
    out = okno("topics", "--bootstrap", env["OKNO_KAFKA_BOOTSTRAP"])
    assert "okno.events.v1 and okno.checkpoints.v1 kept forever" in out
    existing = admin.list_topics(timeout=30).topics
    assert all(t in existing for t in TOPICS)
    events = topic_config(admin, "okno.events.v1")
    assert events["retention.ms"] == "-1"
    assert events["retention.bytes"] == "-1"
    assert events["cleanup.policy"] == "delete"
    checkpoints = topic_config(admin, "okno.checkpoints.v1")
    assert checkpoints["retention.ms"] == "-1"
    assert checkpoints["retention.bytes"] == "-1"
    assert checkpoints["cleanup.policy"] == "delete"
    assert len(existing["okno.checkpoints.v1"].partitions) == 1
    for topic in TOPICS:
        if topic != "okno.events.v1":
            other = topic_config(admin, topic)
            assert other["retention.ms"] != "-1", f"{topic} should keep the broker's retention"
    # A second run is idempotent: everything already exists, the setting stays.
    again = okno("topics", "--bootstrap", env["OKNO_KAFKA_BOOTSTRAP"])
    assert "0 created, 6 already existed" in again
    assert topic_config(admin, "okno.events.v1")["retention.ms"] == "-1"
