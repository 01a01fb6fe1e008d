"""examples/python/drive_to_answer.py, a client written from schemas/ alone with fastavro and
confluent-kafka, drives a message to an approved answer against the real cluster (issue 16)."""
import subprocess
import sys

from harness import ROOT, WAIT_S

EXAMPLE = ROOT / "examples" / "python" / "drive_to_answer.py"


def test_example_client_drives_a_message_to_an_answer(scratch):
    s = scratch
    s.start_ledger()
    s.start_relay()
    out = subprocess.run([sys.executable, str(EXAMPLE), "--bootstrap", s.bootstrap,
                          "--transitions", s.topics["transitions"],
                          "--events", s.topics["events"],
                          "--rejections", s.topics["rejections"],
                          "--timeout", str(WAIT_S)],
                         capture_output=True, text=True, timeout=4 * WAIT_S)
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("message ")
    message = lines[0].split()[1]
    assert [line.split()[0] for line in lines[1:]] == [
        "submit", "accept", "assign_executor", "take_into_work", "draft_answer", "approve"]
    assert "outcome answered" in lines[-1]
    # The ledger recorded exactly that life, and the relay published it.
    rows = s.sql(f"select seq, event_type from okno.event_log where message_id = '{message}' "
                 "order by seq")
    assert [r[1] for r in rows] == ["message_submitted", "message_accepted", "executor_assigned",
                                    "taken_into_work", "answer_drafted", "approval_given"]
    assert s.scalar("select count(*) from okno.refusals") == 0
