"""The org directory's admin endpoints (issue 17) through a real okno-gateway, and the same
changes through `okno directory`: an org admin reaches their org and the orgs below it and
nothing else (404, nothing changed); refusals name the field and change nothing; a removal that
would strand an open message is refused naming it unless forced with a reason; every change is in
the directory's history (`okno audit --org`) with who made it and why."""
import json
import subprocess

import pytest

from gateway_harness import Gateway
from harness import OKNO, okno

OPERATOR_ADMIN = (109, 1)
TVER_ADMIN = (101109, 1011)  # org_admin of the Transport ministry's Tver office
MINISTRY_ADMIN = (101009, 1010)
MODERATOR = (101, 1)


@pytest.fixture(scope="module")
def gw():
    g = Gateway("directory")
    yield g
    g.close()


def version(gw):
    return int(gw.s.scalar("select version from okno.directory_head"))


def call(gw, who, method, path, body=None):
    return gw.request(method, path, body=body, user=who[0], org=who[1])


def every_endpoint(org, user=101202, category=1, sub=0):
    """(method, path, body) of every directory endpoint aimed at org."""
    base = f"/directory/orgs/{org}"
    auth = f"{base}/users/{user}/authorities/{category}/{sub}"
    return [("GET", base, None),
            ("PUT", base, {"parent_id": 1012, "name": "Taken"}),
            ("PUT", base, {"name": "Renamed"}),
            ("PUT", f"{base}/users/{user}", {"roles": ["executor"]}),
            ("DELETE", f"{base}/users/{user}", {"force": True, "reason": "x"}),
            ("PUT", auth, {"may_agree": True, "may_approve": True}),
            ("DELETE", auth, {"force": True, "reason": "x"}),
            ("PUT", f"{base}/users/{user}", {"roles": ["boss"]})]


def test_an_admin_of_one_org_sees_and_changes_nothing_of_another(gw):
    before = version(gw)
    # A sibling office, the ministry above, another ministry, and an org that does not exist.
    for org in (1012, 1010, 1020, 9999999):
        for method, path, body in every_endpoint(org):
            st, _, b = call(gw, TVER_ADMIN, method, path, body)
            assert st == 404, (method, path, st, b)
            assert str(org) not in json.dumps(b.get("org", "")), b
    st, _, b = call(gw, TVER_ADMIN, "PUT", "/directory/categories/1",
                    {"name": "Roads", "total_days": 5})
    assert st == 404 and b["field"] == "category_id", b
    # Creating an org under someone else's, or at the top.
    st, _, b = call(gw, TVER_ADMIN, "PUT", "/directory/orgs/1019902",
                    {"parent_id": 1012, "name": "Mine"})
    assert st == 404 and b["field"] == "parent_id", b
    st, _, b = call(gw, TVER_ADMIN, "PUT", "/directory/orgs/1019902", {"name": "Top"})
    assert st == 404 and b["field"] == "parent_id", b
    assert version(gw) == before
    # Its own org and the one below are reachable.
    st, _, b = call(gw, TVER_ADMIN, "GET", "/directory/orgs/100111")
    assert st == 200 and b["org"]["parent_id"] == 1011, b
    # Staff who are not org admins get 403, applicants too.
    st, _, b = call(gw, (101101, 1011), "GET", "/directory/orgs/1011")
    assert st == 403, b
    st, _, b = gw.request("GET", "/directory/orgs/1011", user=5001)
    assert st == 403, b
    assert version(gw) == before


def test_refusals_name_the_field_and_change_nothing(gw):
    before = version(gw)
    cases = [
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1010", {"parent_id": 100111, "name": "Loop"},
         400, "parent_id", "cycle"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1011", {"parent_id": 1011, "name": "Self"},
         400, "parent_id", "cycle"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/5", {"roles": ["executor", "boss"]},
         400, "roles", "boss"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/5", {"roles": []},
         400, "roles", "non-empty"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/101102/authorities/1/0",
         {"may_approve": True}, 400, "user_id", "not a manager"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/101105/authorities/999/0",
         {"may_approve": True}, 400, "category_id", "no category"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/101105/authorities/1/0",
         {"may_approve": "yes"}, 400, "may_approve", "true or false"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1019903", {"parent_id": 1011},
         400, "name", "name"),
        (OPERATOR_ADMIN, "PUT", "/directory/categories/60", {"name": "Parks", "total_days": 3661},
         400, "total_days", "1..3660"),
        (OPERATOR_ADMIN, "PUT", "/directory/categories/60", {"name": "Parks"},
         400, "total_days", "total_days"),
        (MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/x", {"roles": ["executor"]},
         400, "user_id", "whole number"),
    ]
    for who, method, path, body, status, field, words in cases:
        st, _, b = call(gw, who, method, path, body)
        assert (st, b.get("field")) == (status, field), (path, body, st, b)
        assert words in b["message"], b
    assert version(gw) == before


def test_changes_are_in_the_history_with_who_and_why(gw):
    before = version(gw)
    st, _, b = call(gw, MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/555",
                    {"roles": ["manager", "executor"], "reason": "new hire"})
    assert st == 200 and b["directory_version"] == before + 1, b
    assert {"user_id": 555, "roles": ["executor", "manager"]} in b["org"]["users"]
    st, _, b = call(gw, MINISTRY_ADMIN, "PUT",
                    "/directory/orgs/1011/users/555/authorities/2/1", {"may_agree": True})
    assert st == 200 and b["directory_version"] == before + 2, b
    # Losing the manager role takes the authority with it (both recorded).
    st, _, b = call(gw, MINISTRY_ADMIN, "PUT", "/directory/orgs/1011/users/555",
                    {"roles": ["executor"]})
    assert st == 200 and b["directory_version"] == before + 4, b
    assert not [a for a in b["org"]["authorities"] if a["user_id"] == 555]
    st, _, b = call(gw, OPERATOR_ADMIN, "PUT", "/directory/categories/61",
                    {"name": "Parks", "total_days": 20})
    assert st == 200 and b["category"]["total_days"] == 20, b
    audit = okno("audit", "--org", "1011", "--json", "--pg", gw.s.app_conninfo)
    doc = json.loads(audit)
    assert doc["chain"]["intact"]
    mine = [c for c in doc["changes"] if c["version"] > before]
    assert [(c["kind"], c["op"]) for c in mine] == [
        ("grant", "insert"), ("authority", "insert"), ("authority", "delete"),
        ("grant", "update")], mine
    assert all(c["actor_user"] == 101009 and c["actor_org"] == 1010 for c in mine)
    assert mine[0]["reason"] == "new hire"


def test_a_removal_that_strands_an_open_message_is_refused_naming_it(gw):
    m = gw.submit()
    gw.act(m, "accept", *MODERATOR, body={"target_org_id": 1020})
    gw.projected(m, 102001, 1020)
    # 1020 has two coordinators (102001 and the coordinator-executor 102011).
    st, _, b = call(gw, OPERATOR_ADMIN, "PUT", "/directory/orgs/1020/users/102011",
                    {"roles": ["executor"]})
    assert st == 200, b
    before = version(gw)
    st, _, b = call(gw, OPERATOR_ADMIN, "DELETE", "/directory/orgs/1020/users/102001")
    assert st == 409 and b["messages"] == [m] and b["field"] == "user_id", b
    assert m in b["message"]
    st, _, b = call(gw, OPERATOR_ADMIN, "PUT", "/directory/orgs/1020/users/102001",
                    {"roles": ["executor"]})
    assert st == 409 and b["messages"] == [m] and b["field"] == "roles", b
    st, _, b = call(gw, OPERATOR_ADMIN, "DELETE", "/directory/orgs/1020/users/102001",
                    {"force": True})
    assert st == 400 and b["field"] == "reason", b
    assert version(gw) == before
    st, _, b = call(gw, OPERATOR_ADMIN, "DELETE", "/directory/orgs/1020/users/102001",
                    {"force": True, "reason": "left the service; messages reassigned by hand"})
    assert st == 200 and not [u for u in b["org"]["users"] if u["user_id"] == 102001], b
    reason = gw.s.sql("select reason from okno.directory_history where version = "
                      f"{b['directory_version']}")[0][0]
    assert reason == "left the service; messages reassigned by hand"


def test_okno_directory_makes_the_same_changes_under_the_same_rules(gw):
    before = version(gw)
    base = ["--as", str(TVER_ADMIN[0]), "--for", str(TVER_ADMIN[1]), "--pg", gw.s.app_conninfo]
    out = subprocess.run([str(OKNO), "directory", "user", "1012", "556", "--roles", "executor",
                          *base], capture_output=True, text=True)
    assert out.returncode == 1 and "refused (404) field org_id" in out.stderr, out.stderr
    out = subprocess.run([str(OKNO), "directory", "user", "1011", "556", "--roles",
                          "executor,boss", *base], capture_output=True, text=True)
    assert out.returncode == 1 and "refused (400) field roles" in out.stderr, out.stderr
    assert version(gw) == before
    doc = json.loads(okno("directory", "user", "1011", "556", "--roles", "executor",
                          "--reason", "by the CLI", *base))
    assert doc["directory_version"] == before + 1
    row = gw.s.sql("select actor_user || ' ' || actor_org || ' ' || reason from "
                   f"okno.directory_history where version = {before + 1}")[0][0]
    assert row == "101109 1011 by the CLI"


def test_a_change_takes_effect_for_the_next_decision_and_audit_names_the_grants(gw):
    """103011 coordinates in 1030 (coordinator and executor there): it assigns an executor on
    m1 under the directory as it stands; the operator's admin then takes its coordinator role;
    its very next assignment, on m2, is refused (the ledger applies the change as it commits, and
    a batch decided under an older version would not commit), while 103001's is accepted under
    the new version. okno audit shows each step's directory version and the actor's grant in it,
    and okno audit --org shows the change."""
    m1, m2 = gw.submit(text="Первое"), gw.submit(text="Второе")
    for m in (m1, m2):
        gw.act(m, "accept", *MODERATOR, body={"target_org_id": 1030})
    gw.act(m1, "assign_executor", 103011, 1030, {"target_user_id": 103002})
    old = version(gw)
    st, _, b = call(gw, OPERATOR_ADMIN, "PUT", "/directory/orgs/1030/users/103011",
                    {"roles": ["executor"], "reason": "no longer coordinates"})
    assert st == 200 and b["directory_version"] > old, b
    new = b["directory_version"]
    # The gateway's grant cache (a few seconds) still lets it through: the ledger judges it.
    st, _, b = gw.request("POST", f"/messages/{m2}/actions/assign_executor",
                          {"target_user_id": 103002}, user=103011, org=1030)
    if st == 202:
        verdict = gw.decided(b["request_id"], 103011, 1030)
        assert verdict["status"] == "refused", verdict
        assert verdict["refusal"]["code"] == "not_authorized", verdict
    else:  # the cache had expired: the gateway saw the change first
        assert st == 403, (st, b)
    gw.act(m2, "assign_executor", 103001, 1030, {"target_user_id": 103003})

    def steps(m):
        doc = json.loads(okno("audit", m, "--json", "--pg", gw.s.app_conninfo))
        assert doc["chain"]["intact"]
        return {e["type"]: e for e in doc["events"]}

    assigned = steps(m1)["executor_assigned"]
    assert assigned["directory_version"] == old, assigned
    assert json.loads(assigned["grant"]["roles"]) == ["coordinator", "executor"], assigned
    assigned = steps(m2)["executor_assigned"]
    assert assigned["directory_version"] == new, assigned
    assert json.loads(assigned["grant"]["roles"]) == ["coordinator"], assigned
    text = okno("audit", m1, "--pg", gw.s.app_conninfo)
    assert f"decided under directory version {old}: the actor's roles in the org " \
           '["coordinator", "executor"]' in text, text
    org = okno("audit", "--org", "1030", "--pg", gw.s.app_conninfo)
    assert f"v{new}" in org and "reason: no longer coordinates" in org, org


FAULT = {"full_name": "Петров Пётр", "position": "ведущий специалист",
         "email": "petrov@example.org", "organization": "Ministry of Transport",
         "description": "Кнопка «Согласовать» не отвечает с 10:00"}


def faults(gw):
    return int(gw.s.scalar("select count(*) from okno.fault_requests"))


def test_bad_fault_requests_are_refused_naming_the_field(gw):
    gw.s.sql("insert into okno.people (user_id, full_name, email) values "
             "(101009, 'Петров Пётр', 'petrov@example.org') on conflict (user_id) do update "
             "set email = excluded.email")
    before = faults(gw)
    for field in ("full_name", "position", "email", "organization", "description"):
        body = {k: v for k, v in FAULT.items() if k != field}
        st, _, b = call(gw, MINISTRY_ADMIN, "POST", "/faults", body)
        assert st == 400 and b["field"] == field, (field, st, b)
        st, _, b = call(gw, MINISTRY_ADMIN, "POST", "/faults", {**FAULT, field: "  "})
        assert st == 400 and b["field"] == field, (field, st, b)
    for field, value, words in (("email", "not-an-address", "not an e-mail"),
                                ("email", "someone@example.org", "registered"),
                                ("organization", "Ministry of Nothing", "directory"),
                                ("full_name", 5, "text")):
        st, _, b = call(gw, MINISTRY_ADMIN, "POST", "/faults", {**FAULT, field: value})
        assert st == 400 and b["field"] == field and words in b["message"], (field, st, b)
    assert faults(gw) == before


def test_fault_requests_are_recorded_and_listed_for_the_operator(gw):
    st, _, b = call(gw, MINISTRY_ADMIN, "POST", "/faults", FAULT)
    assert st == 200 and b["fault_id"] >= 1 and b["acting_org"] == 1010, b
    out = subprocess.run([str(OKNO), "fault", "submit", "--full-name", "Сидоров С.",
                          "--position", "оператор", "--email", "sid@example.org",
                          "--organization", "platform operator", "--description", "нет входа",
                          "--as", "4242", "--pg", gw.s.app_conninfo], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)["fault_id"]
    st, _, page = call(gw, MODERATOR, "GET", "/faults?limit=2")
    assert st == 200 and [f["fault_id"] for f in page["faults"]] == [cli, b["fault_id"]], page
    assert page["faults"][1]["description"] == FAULT["description"]
    # Only the platform operator's staff see them.
    st, _, b = call(gw, MINISTRY_ADMIN, "GET", "/faults")
    assert st == 403, b
    out = subprocess.run([str(OKNO), "fault", "list", "--as", "101009", "--for", "1010",
                          "--pg", gw.s.app_conninfo], capture_output=True, text=True)
    assert out.returncode == 1 and "refused (403)" in out.stderr, out.stderr
    out = subprocess.run([str(OKNO), "fault", "submit", "--full-name", "X", "--position", "Y",
                          "--email", "x@example.org", "--organization", "Ministry of Transport",
                          "--description", "", "--as", "4242", "--pg", gw.s.app_conninfo],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "field description" in out.stderr, out.stderr
