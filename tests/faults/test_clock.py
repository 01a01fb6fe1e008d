"""Clock trouble (issue 14, scenario 8): the services' wall clock stepped back by an hour, forward
again, and forward by an hour more while they run, through the injectable clock's
`clock.step_file` (the machine's clock is never touched; libfaketime was tried first, but under
it a sleep after a step back fails with EINVAL, which no real clock does). The services run on a clock 3600
times real time, so an hour's step is 150 simulated days: every open message's deadlines pass
at once. No deadline fires twice, none is lost (every open message gets its answer deadline's
expiry), and recorded times never go backwards within a message (the oracle's check d)."""
import os
import time
import uuid

from confluent_kafka import Producer

from faults import Oracle, wait_until
from okno_client import PRODUCER_CONF, Schemas, request

SPEED = 3600
MESSAGES = 40




def step(path, hours):
    """Steps the services' wall clock to `hours` from the real one."""
    path.write_text(f"{hours * 3600 * 1000}\n")
    time.sleep(1.5)  # every service reads the file again within a second


def expired(rig, ids):
    return rig.s.scalar("select count(distinct message_id) from okno.event_log where "
                        "event_type = 'answer_deadline_expired' and message_id in (%s)" %
                        ",".join(f"'{m}'" for m in ids))


def test_clock_stepped_back_and_forward_fires_every_deadline_once(rig, tmp_path):
    offset = tmp_path / "clock_step"
    offset.write_text("0\n")
    rig.fast_clock(SPEED)  # the ledger's and the timer's, and the oracle's signal audit's
    rig.clock_env["OKNO_CLOCK__STEP_FILE"] = str(offset)
    rig.start("ledger", "relay", "projector", "timer")
    schemas = Schemas()
    producer = Producer({"bootstrap.servers": rig.s.bootstrap, **PRODUCER_CONF})
    messages = [uuid.uuid4() for _ in range(MESSAGES)]
    for i, m in enumerate(messages):
        submit = request("submit", m, 500000 + i, 0, {
            "channel": "portal", "applicant_id": 500000 + i, "category_id": 1,
            "subcategory_id": None, "text": f"Clock trouble {i}"})
        producer.produce(rig.s.topics["transitions"], key=str(m),
                         value=schemas.encode("TransitionRequest", submit))
    producer.flush(30)
    rig.expected["records"] += MESSAGES
    rig.settle()
    time.sleep(3)  # a few simulated hours on the normal clock
    step(offset, -1)  # 150 simulated days back
    # Half of them on to coordination while the clock is back: the ledger records these steps
    # no earlier than the message's last event, and the timer re-arms on a clock 150 days
    # behind (a sleep computed now would last an hour of real time).
    for i, m in enumerate(messages[: MESSAGES // 2]):
        accept = request("accept", m, 101, 1, {"target_org_id": 1010, "category_id": None,
                                               "subcategory_id": None})
        producer.produce(rig.s.topics["transitions"], key=str(m),
                         value=schemas.encode("TransitionRequest", accept))
    producer.flush(30)
    rig.expected["records"] += MESSAGES // 2
    rig.settle()
    time.sleep(3)
    step(offset, 0)  # and forward again
    time.sleep(3)
    step(offset, 1)  # and 150 days on: every deadline of every open message is past
    try:
        wait_until("every open message's answer deadline to expire",
                   lambda: expired(rig, messages) == MESSAGES, 60)
    except AssertionError:
        print(rig.s.sql("select event_type, count(*) from okno.event_log group by 1"))
        print(rig.s.sql("select reason_code, source_topic, min(message), count(*) "
                        "from okno.refusals group by 1, 2"))
        raise
    time.sleep(5)  # room for a repeated signal to show
    for service, proc in rig.procs.items():
        assert proc.poll() is None, f"okno-{service} exited"
    assert Oracle(rig).check(exact=False) == []
