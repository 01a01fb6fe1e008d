"""The producer's contract on the real Kafka broker and PostgreSQL (issue 16): a record that is
not on its message's murmur2 partition is refused with `wrong_partition`, and nothing else is
affected."""
import uuid

from harness import okno, wait_until

from okno_client import Client, request

MODERATOR, OPERATOR_ORG, MINISTRY, APPLICANT = 101, 1, 1010, 77001


def test_request_on_the_wrong_partition_is_refused_and_nothing_else_is_affected(scratch):
    s = scratch
    group = s.start_ledger_and_relay()
    expect = s.load("--messages", "200", "--seed", "16")
    client = Client(s.bootstrap, s.topics["transitions"], s.topics["events"],
                    s.topics["rejections"])
    try:
        message = uuid.uuid4()
        submit = request("submit", message, APPLICANT, 0,
                         {"channel": "portal", "applicant_id": APPLICANT, "category_id": 1,
                          "subcategory_id": None, "text": "The bus stop has no roof."})
        kind, event = client.do(submit)
        assert kind == "Event" and event["type"] == "message_submitted"
        right = client.last_partition

        accept = request("accept", message, MODERATOR, OPERATOR_ORG,
                         {"target_org_id": MINISTRY, "category_id": None,
                          "subcategory_id": None})
        wrong = (right + 1) % 8
        kind, rejection = client.do(accept, partition=wrong)
        assert kind == "Rejection"
        assert rejection["reason_code"] == "wrong_partition"
        assert "murmur2_random" in rejection["message"]
        assert rejection["message_id"] == message.bytes
        assert rejection["source_partition"] == wrong
        rows = s.sql("select message_id, source_partition, message from okno.refusals "
                     "where reason_code = 'wrong_partition'")
        assert len(rows) == 1 and rows[0][:2] == [str(message), str(wrong)]
        assert "murmur2" in rows[0][2]

        # The same request, sent again on the right partition, is decided as usual: the
        # misrouted record did not use up its request id.
        client.outcomes.pop(accept["request_id"])
        kind, event = client.do(accept)
        assert kind == "Event" and event["type"] == "message_accepted"
        assert client.last_partition == right
    finally:
        client.close()

    # Everything else was decided exactly as the load predicted.
    wait_until("the ledger to consume every record",
               lambda: s.consumed(group) == expect["records"] + 3)
    assert s.scalar("select count(*) from okno.event_log") == expect["expected_events"] + 2
    assert s.scalar("select count(*) from okno.requests where accepted") \
        == expect["expected_accepted"] + 2
    refused = expect["expected_refused"] + expect["malformed"] + 1
    assert s.scalar("select count(*) from okno.requests where not accepted") == refused
    assert s.scalar("select count(*) from okno.refusals") == refused
    assert s.scalar("select count(*) from okno.refusals where reason_code = 'wrong_partition'") == 1
    okno("verify", "--pg", s.admin_conninfo)


def test_payload_branch_picked_by_shape_is_refused_and_a_named_branch_is_decided(scratch):
    s = scratch
    s.start_ledger()
    s.start_relay()
    client = Client(s.bootstrap, s.topics["transitions"], s.topics["events"],
                    s.topics["rejections"])
    try:
        message = uuid.uuid4()
        client.do(request("submit", message, APPLICANT, 0,
                          {"channel": "portal", "applicant_id": APPLICANT, "category_id": 1,
                           "subcategory_id": None, "text": "Street lights are off."}))
        client.do(request("accept", message, MODERATOR, OPERATOR_ORG,
                          {"target_org_id": MINISTRY, "category_id": None,
                           "subcategory_id": None}))
        coordinator = MINISTRY * 100 + 1
        # A plain {} for an action without fields: fastavro picks the first branch it fits,
        # Reject, so the record says take_over but carries a Reject payload.
        by_shape = request("take_over", message, coordinator, MINISTRY)
        by_shape["payload"] = {}
        client.send(by_shape)
        partition, offset = client.last_partition, client.last_offset
        kind, rejection = client.outcome((partition, offset))  # no request id: where it lay
        assert kind == "Rejection"
        assert rejection["reason_code"] == "malformed_record"
        assert rejection["request_id"] is None
        assert "payload" in rejection["message"]
        # The same action with its branch named is decided as usual.
        kind, event = client.do(request("take_over", message, coordinator, MINISTRY))
        assert kind == "Event" and event["type"] == "message_taken_over"
    finally:
        client.close()
