"""The oracle itself (faults.py): after a clean load on the shared cluster it finds nothing, and
each kind of damage a fault could do, made by hand as the superuser, is named by its check. An
oracle that cannot fail would prove nothing about the scenarios."""
import pytest

from faults import Oracle, Rig


@pytest.fixture(scope="module")
def clean():
    rig = Rig("oracle", shared=True)
    try:
        rig.start("ledger", "relay", "projector")
        expect = rig.load(messages=400, seed=3).finish()
        yield rig, expect
    finally:
        rig.close()


def tamper(rig, sql):
    """Runs sql past the append-only triggers, as an insider with the owner's rights would."""
    rig.s.sql(f"set session_replication_role = replica; {sql}")


def test_oracle_finds_nothing_after_a_clean_load(clean):
    rig, expect = clean
    assert len(expect["ids"]) == expect["requests"]
    assert Oracle(rig).check() == []


def test_oracle_names_a_deadline_that_passed_without_its_signal(clean):
    rig, _ = clean
    rig.submit(3)  # open messages (the load's lives all end)
    rig.settle()
    # No timer ran: forty days on, every open message's deadlines have passed unsignalled.
    later = rig.s.scalar("select (extract(epoch from max(occurred_at)) * 1000)::int8 "
                         "from okno.event_log") + 40 * 86400 * 1000
    v = Oracle(rig).sla_signals_due_recorded(until_ms=later)
    assert any(line.startswith("(g)") and "missed" in line for line in v), v
    # and now nothing is due yet: the same audit finds nothing
    assert Oracle(rig).sla_signals_due_recorded() == []


def test_oracle_names_a_request_that_was_never_recorded(clean):
    rig, expect = clean
    rid = next(r for r, n in expect["ids"].items() if n == 0)
    tamper(rig, f"delete from okno.refusals where request_id = '{rid}';"
                f"delete from okno.requests where request_id = '{rid}'")
    v = Oracle(rig).accepted_as_predicted(rig.expected)
    assert any(rid in line and "not recorded" in line for line in v), v


def test_oracle_names_a_read_model_that_differs_from_replay(clean):
    rig, _ = clean
    tamper(rig, "update okno_rm.card set status = 'tampered' where message_id = "
                "(select min(message_id::text)::uuid from okno_rm.card)")
    v = Oracle(rig).read_models_equal_replay()
    assert any(line.startswith("(c) okno_rm.card") for line in v), v


def test_oracle_names_a_sequence_gap_and_a_broken_chain(clean):
    rig, _ = clean
    tamper(rig, "delete from okno.event_log where (message_id, seq) = (select message_id, 2 "
                "from okno.event_log where seq = 3 limit 1)")
    o = Oracle(rig)
    assert any(line.startswith("(d)") for line in o.no_gaps_and_time_forward())
    assert any(line.startswith("(e)") for line in o.verify_passes())


def test_oracle_names_a_signal_recorded_twice(clean):
    rig, _ = clean
    tamper(rig, "insert into okno.event_log select message_id, seq + 1000, gen_random_uuid(), "
                "'stage_time_exceeded', occurred_at, null, org, body, prev_hash, hash from "
                "okno.event_log where seq = 1 limit 1;"
                "insert into okno.event_log select message_id, seq + 1001, gen_random_uuid(), "
                "'stage_time_exceeded', occurred_at, null, org, body, prev_hash, hash from "
                "okno.event_log where seq = 1 limit 1")
    v = Oracle(rig).sla_signals_once()
    assert any("recorded twice" in line for line in v), v

