"""Attachments by reference on submit (issue 10) through a real okno-gateway: the references
reach the event in the log, the card, the history and `okno audit`; a bad one is refused with 400
naming it (attachments[2].sha256) and nothing is produced; a log holding bodies written before
attachments (Event v3) beside current ones still reads everywhere."""
import json
import uuid

import pytest

from gateway_harness import Gateway
from harness import okno, wait_until
from okno_client import Client, Schemas, request
from test_versions import HISTORY, hexbytes, rewrite_as_v1

APPLICANT = 5001
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
FILES = [
    {"id": "0b6c1d7e-2f1a-4c55-9e0c-3f1d2b4a5c6d", "name": "яма.jpg", "media_type": "image/jpeg",
     "size_bytes": 245760, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
    {"id": "store-42", "name": "заявление.pdf", "media_type": "application/pdf",
     "size_bytes": 0, "sha256": EMPTY},
    {"id": "x", "name": "a" * 255, "media_type": "text/plain", "size_bytes": 104857600,
     "sha256": EMPTY},
]


@pytest.fixture(scope="module")
def gw():
    g = Gateway("attachments")
    yield g
    g.close()


def submit(gw, body):
    st, _, b = gw.request("POST", "/messages", body, user=APPLICANT)
    assert st == 202, b
    verdict = gw.decided(b["request_id"], APPLICANT)
    assert verdict["status"] == "accepted", verdict
    gw.projected(b["message_id"], APPLICANT)
    return b["message_id"]


def logged(gw, message, seq=1):
    body = gw.s.sql(f"select body from okno.event_log where message_id = '{message}' "
                    f"and seq = {seq}")[0][0]
    return Schemas().decode(hexbytes(body))


def card(gw, message):
    st, _, b = gw.request("GET", f"/messages/{message}", user=APPLICANT)
    assert st == 200, b
    return b


def history(gw, message):
    st, _, b = gw.request("GET", f"/messages/{message}/history", user=APPLICANT)
    assert st == 200, b
    return b


def test_submit_with_attachments_reaches_the_log_the_card_and_the_audit(gw):
    message = submit(gw, {"text": "Яма на дороге", "category_id": 1, "attachments": FILES})
    name, event = logged(gw, message)
    assert name == "Event" and event["type"] == "message_submitted"
    assert event["payload"]["attachments"] == FILES
    assert card(gw, message)["attachments"] == FILES
    assert history(gw, message)["events"][0]["attachments"] == FILES
    text = okno("audit", message, "--pg", gw.s.admin_conninfo)
    assert "attachment 1: заявление.pdf (application/pdf, 0 bytes, sha256 " + EMPTY + \
        ") file store-42" in text, text
    doc = json.loads(okno("audit", message, "--json", "--pg", gw.s.admin_conninfo))
    assert doc["events"][0]["attachments"] == FILES


def with_file(i, **change):
    files = [dict(f) for f in FILES]
    files[i].update(change)
    return files


@pytest.mark.parametrize("files,field", [
    (with_file(2, sha256=EMPTY.upper()), "attachments[2].sha256"),
    (with_file(2, sha256="abc"), "attachments[2].sha256"),
    (with_file(0, size_bytes=-1), "attachments[0].size_bytes"),
    (with_file(1, size_bytes=104857601), "attachments[1].size_bytes"),
    (with_file(1, name="a" * 256), "attachments[1].name"),
    (with_file(0, media_type="pdf"), "attachments[0].media_type"),
    (with_file(0, id=""), "attachments[0].id"),
    (with_file(1, bytes="JVBERi0="), "attachments[1].bytes"),
    ([{k: v for k, v in FILES[0].items() if k != "sha256"}], "attachments[0].sha256"),
    (FILES * 7, "attachments"),
])
def test_a_bad_attachment_is_refused_naming_it_and_nothing_is_produced(gw, files, field):
    before = gw.produced()
    st, _, b = gw.request("POST", "/messages", {"text": "t", "attachments": files},
                          user=APPLICANT)
    assert st == 400 and b["field"] == field, b
    assert gw.produced() == before


def test_a_bad_attachment_sent_straight_to_kafka_is_refused_by_the_core(gw):
    s = gw.s
    client = Client(s.bootstrap, s.topics["transitions"], s.topics["events"], s.topics["rejections"])
    message = uuid.uuid4()
    bad = dict(FILES[0], sha256="A" * 64)
    try:
        client.send(request("submit", message, APPLICANT, 0, {
            "channel": "portal", "applicant_id": APPLICANT, "category_id": 1,
            "subcategory_id": None, "text": "t", "applicant_email": None,
            "attachments": [FILES[1], bad]}))
    finally:
        client.close()
    codes = wait_until("the request to be refused", lambda: s.sql(
        f"select reason_code from okno.refusals where message_id = '{message}'"))
    assert codes == [["invalid_attachment"]]
    assert s.scalar(f"select count(*) from okno.event_log where message_id = '{message}'") == 0


def test_a_log_with_bodies_before_attachments_reads_everywhere(gw):
    with_files = submit(gw, {"text": "с файлами", "category_id": 1, "attachments": FILES[:1]})
    without = submit(gw, {"text": "без файлов", "category_id": 1})
    assert logged(gw, without)[1]["payload"]["attachments"] is None
    rewrite_as_v1(gw.s, [without], version="v3")
    v3 = Schemas(files={"Event": HISTORY / "Event" / "v3.avsc"})
    body = hexbytes(gw.s.sql(f"select body from okno.event_log where message_id = '{without}' "
                             "and seq = 1")[0][0])
    assert body[2:10] == v3.by_name["Event"][0]  # the log now holds a v3 body
    assert logged(gw, without)[1]["payload"]["attachments"] is None  # read as current
    assert card(gw, without)["attachments"] == []
    assert history(gw, without)["chain_verified"] is True
    assert history(gw, without)["events"][0]["attachments"] == []
    doc = json.loads(okno("audit", without, "--json", "--pg", gw.s.admin_conninfo))
    assert doc["events"][0]["attachments"] == [] and doc["events"][0]["text"] == "без файлов"
    assert card(gw, with_files)["attachments"] == FILES[:1]
    okno("verify", "--pg", gw.s.admin_conninfo)  # the chains and checkpoints still hold
