"""okno-gateway against real Kafka, real PostgreSQL, a real ledger and projector: every endpoint
accepted and refused, actions through HTTP to their events, authentication failures, tenant
isolation, idempotency, and hostile HTTP."""
import json
import socket
import threading
import time
import urllib.request
import uuid

import pytest

from gateway_harness import Gateway
from harness import free_port

APPLICANT, OTHER_APPLICANT = 5001, 5002
MODERATOR, INTAKE = (101, 1), (104, 1)
COORD, EXEC, EXEC2, MGR, MGR2, CURATOR = ((101001, 1010), (101002, 1010), (101003, 1010),
                                          (101005, 1010), (101006, 1010), (101008, 1010))
SUB_COORD = (101101, 1011)
# Org B: another ministry, every role.
ORG_B = [(102001, 1020), (102002, 1020), (102005, 1020), (102008, 1020), (102009, 1020)]


@pytest.fixture(scope="module")
def gw():
    g = Gateway("gateway")
    yield g
    g.close()


def accepted_message(gw):
    m = gw.submit()
    gw.act(m, "accept", *MODERATOR, {"target_org_id": 1010})
    return m


def events_of(gw, message):
    return [r[0] for r in gw.s.sql(f"select event_type from okno.event_log "
                                   f"where message_id = '{message}' order by seq")]


# ---- writes: every action of 3.1-3.9 through HTTP to its event --------------------------------

def test_answer_with_agreement_and_approval_closes_the_message(gw):
    m = accepted_message(gw)
    gw.act(m, "assign_executor", *COORD, {"target_user_id": EXEC[0]})
    gw.act(m, "reassign_executor", *EXEC, {"target_user_id": EXEC2[0], "reason": "отпуск"})
    gw.act(m, "take_into_work", *EXEC2)
    gw.act(m, "draft_answer", *EXEC2, {"answer_type": "resolved", "text": "Яму заделали",
                                       "approver_user_id": MGR[0], "agreers": [MGR2[0]]})
    gw.act(m, "refuse_agreement", *MGR2, {"reason": "уточните сроки"})
    gw.act(m, "draft_answer", *EXEC2, {"answer_type": "resolved", "text": "Заделали 5 мая",
                                       "approver_user_id": MGR[0], "agreers": [MGR2[0]]})
    gw.act(m, "agree", *MGR2, {"comment": "ок"})
    gw.act(m, "refuse_approval", *MGR, {"reason": "приложите фото"})
    gw.act(m, "draft_answer", *EXEC2, {"answer_type": "resolved", "text": "Фото приложено",
                                       "approver_user_id": MGR[0]})
    v = gw.act(m, "approve", *MGR)
    assert v["outcome"] == "answered"
    assert events_of(gw, m) == [
        "message_submitted", "message_accepted", "executor_assigned", "executor_reassigned",
        "taken_into_work", "answer_drafted", "agreement_refused", "answer_drafted",
        "agreement_given", "approval_refused", "answer_drafted", "approval_given"]


def test_moderator_rejects(gw):
    m = gw.submit()
    v = gw.act(m, "reject", *MODERATOR, {"reason": "спам"})
    assert v["events"][0]["type"] == "message_rejected"


def test_coordination_moves_take_over_forward_return_and_redirect(gw):
    m = accepted_message(gw)
    gw.act(m, "take_over", *COORD)
    gw.act(m, "return_to_coordination", *COORD, {"reason": "не моё"})
    gw.act(m, "forward_to_subordinate", *COORD, {"target_org_id": 1011})
    gw.act(m, "return_upstream", *SUB_COORD, {"reason": "не наша территория"})
    gw.act(m, "propose_redirect", *COORD, {"target_org_id": 1020, "approver_user_id": MGR[0]})
    v = gw.act(m, "approve", *MGR)
    assert v["stage"] == "coordination"
    assert events_of(gw, m)[2:] == [
        "message_taken_over", "returned_to_coordination", "forwarded_to_subordinate",
        "returned_upstream", "redirect_proposed", "approval_given"]


def test_delegations_reach_the_log(gw):
    m = accepted_message(gw)
    gw.act(m, "assign_executor", *COORD, {"target_user_id": EXEC[0]})
    gw.act(m, "take_into_work", *EXEC)
    gw.act(m, "draft_answer", *EXEC, {"answer_type": "not_resolved", "text": "нет",
                                      "approver_user_id": MGR[0], "agreers": [MGR2[0]]})
    for action, user in (("delegate_agreement", MGR2), ("delegate_approval", MGR)):
        st, _, b = gw.request("POST", f"/messages/{m}/actions/{action}",
                              {"target_user_id": 101007, "reason": "отпуск"}, user=user[0],
                              org=user[1])
        assert st == 202
        gw.decided(b["request_id"], *user)
    assert "agreement_delegated" in events_of(gw, m)


def test_a_refused_action_says_why_with_a_stable_code(gw):
    m = gw.submit()
    st, _, b = gw.request("POST", f"/messages/{m}/actions/reject", {"reason": "x"},
                          user=MODERATOR[0], org=MODERATOR[1])
    gw.decided(b["request_id"], *MODERATOR)
    st, _, b = gw.request("POST", f"/messages/{m}/actions/reject", {"reason": "again"},
                          user=MODERATOR[0], org=MODERATOR[1])
    assert st == 202
    v = gw.decided(b["request_id"], *MODERATOR)
    assert v["status"] == "refused"
    assert v["refusal"]["code"] == "message_closed" and v["refusal"]["text"]


def test_intake_operator_submits_for_an_applicant(gw):
    st, _, b = gw.request("POST", "/messages", {"text": "по телефону", "applicant_id": 5003},
                          user=INTAKE[0], org=INTAKE[1])
    assert st == 202, b
    assert gw.decided(b["request_id"], *INTAKE)["status"] == "accepted"
    assert gw.s.sql(f"select event_type from okno.event_log where message_id = "
                    f"'{b['message_id']}'") == [["message_submitted"]]
    st, _, b = gw.request("POST", "/messages", {"text": "x"}, user=INTAKE[0], org=INTAKE[1])
    assert st == 400 and b["field"] == "applicant_id"


def test_a_role_that_may_not_act_is_refused_before_kafka(gw):
    m = gw.submit()
    before = gw.produced()
    st, _, b = gw.request("POST", f"/messages/{m}/actions/accept", {"target_org_id": 1010},
                          user=EXEC[0], org=EXEC[1])
    assert st == 403 and b["error"] == "role_not_allowed"
    st, _, b = gw.request("POST", f"/messages/{m}/actions/accept", {"target_org_id": 1010},
                          user=APPLICANT)
    assert st == 403
    st, _, b = gw.request("POST", f"/messages/{m}/actions/fly_away", {}, user=MODERATOR[0],
                          org=MODERATOR[1])
    assert st == 404 and b["field"] == "action"
    assert gw.produced() == before


# ---- idempotency ----------------------------------------------------------------------------

def test_a_retry_with_the_same_key_is_the_same_request_and_another_body_is_422(gw):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"text": "повтор", "category_id": 1}
    st1, _, b1 = gw.request("POST", "/messages", body, user=APPLICANT, headers=key)
    st2, _, b2 = gw.request("POST", "/messages", body, user=APPLICANT, headers=key)
    assert st1 == st2 == 202
    assert b1["request_id"] == b2["request_id"] and b1["message_id"] == b2["message_id"]
    gw.decided(b1["request_id"], APPLICANT)
    time.sleep(1)
    assert gw.s.scalar(f"select count(*) from okno.requests "
                       f"where message_id = '{b1['message_id']}'") == 1
    assert gw.s.scalar(f"select count(*) from okno.event_log "
                       f"where message_id = '{b1['message_id']}'") == 1
    st, _, b = gw.request("POST", "/messages", {"text": "другое"}, user=APPLICANT, headers=key)
    assert st == 422 and b["field"] == "Idempotency-Key"
    # The same key from another user is another request.
    st, _, b3 = gw.request("POST", "/messages", body, user=OTHER_APPLICANT, headers=key)
    assert st == 202 and b3["request_id"] != b1["request_id"]


def at_once(calls):
    """Runs the calls (functions) on threads released together; their results in order."""
    results, barrier = [None] * len(calls), threading.Barrier(len(calls))
    def run(i):
        barrier.wait()
        results[i] = calls[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def batch_metric(gw, suffix):
    url = f"http://127.0.0.1:{gw.proc.admin_port}/metrics"
    for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
        if line.startswith(f"okno_gateway_write_batch_writes_{suffix} "):
            return float(line.split()[1])
    raise AssertionError(f"no okno_gateway_write_batch_writes_{suffix} in /metrics")


def test_one_key_sent_many_times_at_once_is_one_request_and_a_changed_body_is_422(gw):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    token = gw.token(APPLICANT)
    texts = ["раз", "два"] * 8
    results = at_once([lambda t=t: gw.request("POST", "/messages", {"text": t}, token=token,
                                              headers=key) for t in texts])
    won = {t for t, (st, _, _) in zip(texts, results) if st == 202}
    assert len(won) == 1, results  # one body was recorded first; every copy of it is 202
    for t, (st, _, b) in zip(texts, results):
        assert (st == 202) == (t in won), (t, st, b)
        assert st == 202 or b["error"] == "idempotency_key_reused"
    accepted = [b for st, _, b in results if st == 202]
    assert len({b["request_id"] for b in accepted}) == 1
    gw.decided(accepted[0]["request_id"], APPLICANT)
    time.sleep(1)
    assert gw.s.scalar(f"select count(*) from okno.requests "
                       f"where request_id = '{accepted[0]['request_id']}'") == 1


def test_a_retry_on_another_gateway_is_the_same_request_and_another_body_is_422(gw):
    """The record is in PostgreSQL: a second gateway (or this one restarted) knows the key."""
    other = Gateway("gateway_b", scratch=gw.s)
    try:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"text": "через другой шлюз", "category_id": 1}
        st1, _, b1 = gw.request("POST", "/messages", body, user=APPLICANT, headers=key)
        st2, _, b2 = other.request("POST", "/messages", body, user=APPLICANT, headers=key)
        assert st1 == st2 == 202 and b1 == b2
        st3, _, b3 = other.request("POST", "/messages", {"text": "другое"}, user=APPLICANT,
                                   headers=key)
        assert st3 == 422 and b3["error"] == "idempotency_key_reused"
    finally:
        other.close()


def test_writes_arriving_together_are_each_judged_by_their_own_callers_rights(gw):
    """Writes that share a batch (one visibility statement per caller, one record statement)
    answer as each would alone: org B's coordinator and a suborg's get the 404 of a missing id,
    and only org A's coordinator's actions are produced."""
    m = accepted_message(gw)
    gw.projected(m, *COORD)
    missing = str(uuid.uuid4())
    callers = [COORD, ORG_B[0], SUB_COORD, COORD] * 6
    tokens = {u: gw.token(u) for u, _ in callers}
    alone = {c: gw.request("POST", f"/messages/{missing}/actions/take_over", {}, org=c[1],
                           token=tokens[c[0]]) for c in set(callers)}
    before, batched = gw.produced(), batch_metric(gw, "sum")
    results = at_once([lambda c=c: gw.request("POST", f"/messages/{m}/actions/take_over", {},
                                              org=c[1], token=tokens[c[0]]) for c in callers])
    for c, (st, _, b) in zip(callers, results):
        if c == COORD:
            assert st == 202, b
        else:
            assert st == 404 and (st, b) == alone[c][::2], (c, st, b)
    assert gw.produced() == before + callers.count(COORD)
    # Every one of them went through a batch (okno_gateway_write_batch_writes counts them).
    assert batch_metric(gw, "sum") == batched + len(callers)


def test_request_status_is_only_for_its_requester(gw):
    st, _, b = gw.request("POST", "/messages", {"text": "мой"}, user=APPLICANT)
    st, _, other = gw.request("GET", f"/requests/{b['request_id']}", user=OTHER_APPLICANT)
    st2, _, missing = gw.request("GET", f"/requests/{uuid.uuid4()}", user=OTHER_APPLICANT)
    assert st == st2 == 404 and other == missing
    st, _, bad = gw.request("GET", f"/requests/{b['request_id']}?wait=forever", user=APPLICANT)
    assert st == 400 and bad["field"] == "wait"


def test_wait_is_bounded(gw):
    st, _, b = gw.request("POST", "/messages", {"text": "x"}, user=APPLICANT)
    t0 = time.monotonic()
    st, _, v = gw.request("GET", f"/requests/{b['request_id']}?wait=60s", user=APPLICANT)
    assert st == 200 and time.monotonic() - t0 < 5


# ---- authentication --------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing", "expired", "tampered", "wrong_audience",
                                  "wrong_issuer", "not_yet_valid", "garbage"])
def test_bad_tokens_get_401_with_a_reason_and_produce_nothing(gw, case):
    good = gw.token(APPLICANT)
    tokens = {
        "missing": None,
        "expired": gw.token(APPLICANT, "--ttl", "-120"),
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "wrong_audience": gw.token(APPLICANT, "--audience", "someone-else"),
        "wrong_issuer": gw.token(APPLICANT, "--issuer", "evil"),
        "not_yet_valid": gw.token(APPLICANT, "--nbf", "600"),
        "garbage": "not.a.token",
    }
    reasons = {"missing": "missing_token", "expired": "expired", "tampered": "bad_signature",
               "wrong_audience": "wrong_audience", "wrong_issuer": "wrong_issuer",
               "not_yet_valid": "not_yet_valid", "garbage": None}
    before = gw.produced()
    for method, path, body in [("POST", "/messages", {"text": "x"}), ("GET", "/my/messages", None),
                               ("GET", f"/requests/{uuid.uuid4()}", None)]:
        st, hdrs, b = gw.request(method, path, body, token=tokens[case])
        assert st == 401, (case, path, b)
        assert hdrs["content-type"] == "application/json"
        if reasons[case]:
            assert b["error"] == reasons[case]
    assert gw.produced() == before


def test_staff_must_hold_a_role_in_the_org_they_name(gw):
    st, _, b = gw.request("GET", "/inbox", user=COORD[0], org=1020)
    assert st == 403 and b["field"] == "X-Okno-Org"
    st, _, b = gw.request("GET", "/inbox", user=COORD[0], org="abc")
    assert st == 400 and b["field"] == "X-Okno-Org"


def test_a_removed_role_is_refused_as_soon_as_the_directory_notifies(gw):
    """The grant cache (5 s) is dropped on the directory's okno_directory notification, so a
    removed role stops working well before the cache's lifetime."""
    user = 109901
    gw.s.sql(f"insert into okno.grants (user_id, org_id, roles) values ({user}, 1010, "
             f"array['executor']) on conflict do nothing")
    deadline = time.monotonic() + 10
    while gw.request("GET", "/inbox", user=user, org=1010)[0] != 200:
        assert time.monotonic() < deadline, "the new grant never reached the gateway"
        time.sleep(0.05)
    assert gw.request("GET", "/inbox", user=user, org=1010)[0] == 200  # cached just now
    gw.s.sql(f"delete from okno.grants where user_id = {user} and org_id = 1010")
    removed = time.monotonic()
    while True:
        st, _, b = gw.request("GET", "/inbox", user=user, org=1010)
        if st == 403:
            break
        assert st == 200 and time.monotonic() - removed < 10
        time.sleep(0.02)
    took = time.monotonic() - removed
    assert b["error"] == "no_role_in_org"
    assert took < 2.5, f"the removed role was still let through {took:.2f} s later"


def writes_on_loop(gw):
    url = f"http://127.0.0.1:{gw.proc.admin_port}/metrics"
    for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
        if line.startswith("okno_gateway_writes_on_loop_total "):
            return float(line.split()[1])
    raise AssertionError("no okno_gateway_writes_on_loop_total in /metrics")


def test_a_cached_callers_write_is_shaped_on_the_loop_and_a_removed_role_refused_by_a_worker(gw):
    """A write whose token and grant are cached is shaped on the HTTP loop (the counter moves) and
    still answered 202 after Kafka; a first token goes to a worker; once the directory drops the
    role the write is refused 403 by the full check on a worker, and nothing is produced."""
    user = 109902
    m = accepted_message(gw)
    gw.s.sql(f"insert into okno.grants (user_id, org_id, roles) values ({user}, 1010, "
             f"array['coordinator']) on conflict do nothing")
    token = gw.token(user)
    hdrs = {"Authorization": f"Bearer {token}", "X-Okno-Org": "1010"}
    def take_over():  # (status, headers, body, writes counted on the loop by it)
        before = writes_on_loop(gw)
        st, h, b = gw.request("POST", f"/messages/{m}/actions/take_over", {}, headers=hdrs)
        return st, h, b, writes_on_loop(gw) - before

    st, _, b, on_loop = take_over()
    assert st == 202 and on_loop == 0, ("a first token's write was decided from the caches", b)
    st, h, b, on_loop = take_over()
    assert st == 202 and h["location"] == f"/requests/{b['request_id']}", b
    assert on_loop == 1
    assert gw.decided(b["request_id"], user, 1010)["status"] in ("accepted", "refused")
    gw.s.sql(f"delete from okno.grants where user_id = {user} and org_id = 1010")
    produced = gw.produced()
    deadline = time.monotonic() + 10
    while True:
        st, _, b, on_loop = take_over()
        if st == 403:
            break
        assert st == 202 and time.monotonic() < deadline, (st, b)
        produced = gw.produced()
        time.sleep(0.02)
    assert b["error"] == "no_role_in_org"
    assert on_loop == 0, "the refusal did not come from the full check"
    assert gw.produced() == produced


# ---- reads -----------------------------------------------------------------------------------

def test_reads_show_inbox_card_history_timeline_and_own_messages(gw):
    m = accepted_message(gw)
    gw.projected(m, *COORD)
    st, _, inbox = gw.request("GET", "/inbox?role=coordinator&limit=500", user=COORD[0],
                              org=COORD[1])
    assert st == 200 and m in [i["message_id"] for i in inbox["items"]]
    st, _, card = gw.request("GET", f"/messages/{m}", user=COORD[0], org=COORD[1])
    assert st == 200 and card["stage"] == "coordination"
    st, _, hist = gw.request("GET", f"/messages/{m}/history", user=COORD[0], org=COORD[1])
    assert st == 200 and hist["chain_verified"] is True and len(hist["events"]) == 2
    st, _, tl = gw.request("GET", f"/messages/{m}/timeline", user=APPLICANT)
    assert st == 200 and tl["entries"][-1]["status_text"]
    st, _, mine = gw.request("GET", "/my/messages?limit=500", user=APPLICANT)
    assert st == 200 and m in [i["message_id"] for i in mine["items"]]
    st, _, b = gw.request("GET", "/my/messages", user=COORD[0], org=COORD[1])
    assert st == 400
    st, _, b = gw.request("GET", "/inbox?limit=0", user=COORD[0], org=COORD[1])
    assert st == 400


def test_time_left_is_counted_on_the_services_clock(gw):
    """On a sped-up clock (the demo's) a stage's time left is as the ledger and the timer count
    it, not as the wall clock would: a gateway whose clock runs far ahead sees the stage over."""
    m = accepted_message(gw)
    gw.projected(m, *COORD)
    st, _, card = gw.request("GET", f"/messages/{m}", user=COORD[0], org=COORD[1])
    assert st == 200 and card["stage_time_left_ms"] > 0
    port = free_port()
    read = gw.s.app_conninfo.replace("user=okno_app", "user=okno_gateway") \
        .replace("password=okno_app", "password=okno_gateway")
    # Ten real minutes ago at 10,000 times real time: about 69 simulated days ahead now.
    origin = int(time.time() * 1000) - 600_000
    fast = gw.s.start("gateway", **{"gateway.listen": f"127.0.0.1:{port}",
                                    "gateway.transitions_topic": gw.s.topics["transitions"],
                                    "gateway.read_conninfo": read,
                                    "auth.jwks_file": str(gw.keys / "jwks.json"),
                                    "clock.speed": 10000, "clock.origin_ms": origin,
                                    "log.level": "warn"})
    normal_port, gw.port = gw.port, port
    try:
        st, _, ahead = gw.request("GET", f"/messages/{m}", user=COORD[0], org=COORD[1])
    finally:
        gw.port = normal_port
        fast.terminate()
        fast.wait(20)
    assert st == 200 and ahead["stage_time_left_ms"] < 0
    assert ahead["stage_due_at"] == card["stage_due_at"]


def test_lists_page_with_the_cursor_they_return(gw):
    applicant = 5077
    made = []
    for i in range(3):
        st, _, b = gw.request("POST", "/messages", {"text": f"page {i}"}, user=applicant)
        made.append(gw.decided(b["request_id"], applicant)["message_id"])
    seen, path = [], "/my/messages?limit=2"
    while path:
        st, _, page = gw.request("GET", path, user=applicant)
        assert st == 200 and len(page["items"]) <= 2
        seen += [i["message_id"] for i in page["items"]]
        path = f"/my/messages?limit=2&after={page['next']}" if page["next"] else None
    assert sorted(seen) == sorted(made)
    st, _, b = gw.request("GET", "/my/messages?after=m.bogus", user=applicant)
    assert st == 400
    for _ in range(2):
        m = accepted_message(gw)
    gw.projected(m, *COORD)
    st, _, first = gw.request("GET", "/inbox?limit=1", user=COORD[0], org=COORD[1])
    assert st == 200 and len(first["items"]) == 1 and first["next"]
    st, _, second = gw.request("GET", f"/inbox?limit=1&after={first['next']}", user=COORD[0],
                               org=COORD[1])
    assert st == 200 and second["items"][0]["message_id"] != first["items"][0]["message_id"]


# ---- tenant isolation --------------------------------------------------------------------------

ACTIONS_BY_ROLE = {"coordinator": ("take_over", {}), "executor": ("take_into_work", {}),
                   "manager": ("approve", {}), "curator": None, "org_admin": None}


def test_org_b_sees_and_changes_nothing_of_org_a(gw):
    m = accepted_message(gw)
    gw.projected(m, *COORD)
    missing = str(uuid.uuid4())
    before = gw.produced()
    for user, org in ORG_B + [(OTHER_APPLICANT, None)]:
        for suffix in ("", "/history", "/timeline"):
            st, _, b = gw.request("GET", f"/messages/{m}{suffix}", user=user, org=org)
            st2, _, b2 = gw.request("GET", f"/messages/{missing}{suffix}", user=user, org=org)
            assert (st, b) == (st2, b2) and st == 404, (user, suffix, b)
        if org is not None:
            st, _, inbox = gw.request("GET", "/inbox?limit=500", user=user, org=org)
            assert m not in [i["message_id"] for i in inbox["items"]]
        for action in ("take_over", "take_into_work", "approve", "reject"):
            st, _, b = gw.request("POST", f"/messages/{m}/actions/{action}", {}, user=user,
                                  org=org)
            st2, _, b2 = gw.request("POST", f"/messages/{missing}/actions/{action}", {},
                                    user=user, org=org)
            assert (st, b) == (st2, b2) and st in (403, 404), (user, action, b)
    st, _, mine = gw.request("GET", "/my/messages?limit=500", user=OTHER_APPLICANT)
    assert m not in [i["message_id"] for i in mine["items"]]
    assert gw.produced() == before
    assert len(events_of(gw, m)) == 2


def test_the_gateway_role_cannot_read_other_orgs_rows_by_hand(gw):
    m = accepted_message(gw)
    gw.projected(m, *COORD)
    read = gw.s.app_conninfo.replace("user=okno_app", "user=okno_gateway") \
        .replace("password=okno_app", "password=okno_gateway")
    import subprocess
    def count(setup):
        out = subprocess.run(["psql", "-X", "-tA", read, "-c",
                              f"begin; {setup} select count(*) from okno_rm.card where "
                              f"message_id = '{m}'; commit;"],
                             capture_output=True, text=True, check=True).stdout.split()
        return [x for x in out if x.isdigit()][-1]
    assert count("") == "0"
    assert count("select set_config('okno.caller_user', '102001', true), "
                 "set_config('okno.caller_org', '1020', true);") == "0"
    assert count("select set_config('okno.caller_user', '101001', true), "
                 "set_config('okno.caller_org', '1010', true);") == "1"


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,field", [
    (b'{"reason":', "body"),
    (b'[1]', "body"),
    (b'{"reason": 5}', "reason"),
    (b'{}', "reason"),
    (b'{"reason": "x", "colour": 1}', "colour"),
    (b'{"reason": "x", "stage": "closed"}', "stage"),
    (b'{"reason": "x", "acting_org_id": 1020}', "acting_org_id"),
    (b'{"reason": "\xff\xfe"}', "body"),
])
def test_bad_bodies_are_400_naming_the_field_and_produce_nothing(gw, raw, field):
    m = gw.submit()
    before = gw.produced()
    st, hdrs, b = gw.request("POST", f"/messages/{m}/actions/reject", raw_body=raw,
                             user=MODERATOR[0], org=MODERATOR[1])
    assert st == 400 and b["field"] == field, b
    assert gw.produced() == before


def test_unknown_routes_and_methods_are_json_4xx(gw):
    st, _, b = gw.request("GET", "/nope", user=APPLICANT)
    assert st == 404 and b["field"] == "path"
    st, _, b = gw.request("DELETE", "/messages", user=APPLICANT)
    assert st == 405 and b["field"] == "method"
    st, _, b = gw.request("GET", "/messages/not-a-uuid", user=APPLICANT)
    assert st == 404


def test_hostile_http_is_refused_and_others_still_served(gw):
    before, rss0 = gw.produced(), gw.rss_kb()
    big = b"x" * (10 * 1024 * 1024)
    out = gw.raw(b"POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n" % len(big) + big)
    assert out.startswith(b"HTTP/1.1 413") and b'"field":"body"' in out, out[:300]
    # More than h2o's 100 headers: its plain-text 400, before any request exists.
    headers = b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(1000))
    out = gw.raw(b"GET /my/messages HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:300]
    out = gw.raw(b"GET /my/messages HTTP/1.1\r\nHost: x\r\n" +
                 b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(80)) +
                 b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431") and b'"field":"headers"' in out
    # Slow senders hold connections, a byte at a time; others are served meanwhile.
    slow = []
    for _ in range(50):
        c = socket.create_connection(("127.0.0.1", gw.port))
        c.sendall(b"POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        slow.append(c)
    t0 = time.monotonic()
    st, _, b = gw.request("GET", "/my/messages", user=APPLICANT)
    assert st == 200 and time.monotonic() - t0 < 5
    for c in slow:
        c.close()
    for _ in range(200):  # fuzzed bodies
        junk = bytes((i * 37 + 11) % 256 for i in range(300))
        st, _, b = gw.request("POST", "/messages", raw_body=junk, user=APPLICANT)
        assert st == 400
    assert gw.produced() == before
    assert gw.rss_kb() - rss0 < 64 * 1024, "memory grew by more than 64 MiB"
    assert gw.proc.poll() is None


def test_http2_is_served_by_prior_knowledge(gw):
    import subprocess
    out = subprocess.run(["h2load", "-n", "20", "-c", "2", "-H",
                          f"Authorization: Bearer {gw.token(APPLICANT)}",
                          f"http://127.0.0.1:{gw.port}/my/messages"],
                         capture_output=True, text=True, check=True).stdout
    assert "Application protocol: h2c" in out
    assert "20 succeeded" in out and "status codes: 20 2xx" in out


def readyz(port):
    import http.client
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/readyz")
        r = c.getresponse()
        return r.status, json.loads(r.read())
    except OSError:
        return None


@pytest.mark.parametrize("down", ["PostgreSQL", "Kafka"])
def test_readiness_follows_postgresql_and_kafka(gw, down):
    import os
    import subprocess
    from harness import BUILD, free_port, wait_until
    port = free_port()
    env = dict(os.environ, OKNO_ADMIN__LISTEN=f"127.0.0.1:{port}",
               OKNO_GATEWAY__LISTEN="127.0.0.1:0", OKNO_PG__CONNINFO=gw.s.app_conninfo,
               OKNO_KAFKA__BOOTSTRAP__SERVERS=gw.s.bootstrap,
               OKNO_AUTH__JWKS_FILE=str(gw.keys / "jwks.json"), OKNO_LOG__LEVEL="error")
    if down == "PostgreSQL":
        env["OKNO_PG__CONNINFO"] = "host=127.0.0.1 port=1 dbname=x user=x"
    else:
        env["OKNO_KAFKA__BOOTSTRAP__SERVERS"] = "127.0.0.1:1"
    proc = subprocess.Popen([str(BUILD / "services/gateway/okno-gateway")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("readyz", lambda: readyz(port))
        time.sleep(2.5)
        st, b = readyz(port)
        assert st == 503 and down in b["reason"]
    finally:
        proc.terminate()
        proc.wait(20)
