"""The live gateway against services/gateway/openapi.yaml: every documented operation exists and
answers with documented statuses whose bodies validate against the document's schemas, and no
route answers that the document does not list."""
import json
import uuid

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from gateway_harness import Gateway
from harness import ROOT

SPEC = yaml.safe_load((ROOT / "services/gateway/openapi.yaml").read_text())
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
APPLICANT, MODERATOR, COORD = 5001, (101, 1), (101001, 1010)
CURATOR = (101008, 1010)  # of the Ministry of Transport, above its regional offices 1011..1013


def inline(node):
    """The node with every local $ref replaced by what it points at (the document has no
    cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = SPEC
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            merged = {**inline(target), **{k: v for k, v in node.items() if k != "$ref"}}
            return inline(merged)
        return {k: inline(v) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v) for v in node]
    return node


@pytest.fixture(scope="module")
def gw():
    g = Gateway("openapi")
    yield g
    g.close()


class Recorder:
    def __init__(self, gw):
        self.gw, self.seen = gw, []

    def call(self, template, method, path, **kw):
        st, hdrs, body = self.gw.request(method, path, **kw)
        self.seen.append((template, method.lower(), st, hdrs, body))
        return st, hdrs, body


def exercise(gw):
    """Every operation, accepted and refused."""
    r = Recorder(gw)
    missing = str(uuid.uuid4())
    st, _, b = r.call("/messages", "POST", "/messages", body={"text": "x", "category_id": 1},
                      user=APPLICANT)
    m, req = b["message_id"], b["request_id"]
    r.call("/messages", "POST", "/messages", body={"text": 1}, user=APPLICANT)
    r.call("/messages", "POST", "/messages", body={"text": "x"})
    r.call("/messages", "POST", "/messages", body={"text": "x"}, user=COORD[0], org=COORD[1])
    key = {"Idempotency-Key": "k-" + missing}
    r.call("/messages", "POST", "/messages", body={"text": "a"}, user=APPLICANT, headers=key)
    r.call("/messages", "POST", "/messages", body={"text": "b"}, user=APPLICANT, headers=key)
    r.call("/requests/{id}", "GET", f"/requests/{req}?wait=2s", user=APPLICANT)
    gw.decided(req, APPLICANT)
    r.call("/requests/{id}", "GET", f"/requests/{req}", user=APPLICANT)
    r.call("/requests/{id}", "GET", f"/requests/{req}?wait=x", user=APPLICANT)
    r.call("/requests/{id}", "GET", f"/requests/{missing}", user=APPLICANT)
    r.call("/requests/{id}", "GET", f"/requests/{missing}")
    act = "/messages/{id}/actions/{action}"
    st, _, b = r.call(act, "POST", f"/messages/{m}/actions/accept", body={"target_org_id": 1010},
                      user=MODERATOR[0], org=MODERATOR[1])
    assert gw.decided(b["request_id"], *MODERATOR)["status"] == "accepted"
    st, _, b = r.call(act, "POST", f"/messages/{m}/actions/reject", body={"reason": "late"},
                      user=MODERATOR[0], org=MODERATOR[1])
    r.call("/requests/{id}", "GET", f"/requests/{b['request_id']}?wait=2s", user=MODERATOR[0],
           org=MODERATOR[1])
    r.call(act, "POST", f"/messages/{m}/actions/reject", body={"stage": "x"}, user=MODERATOR[0],
           org=MODERATOR[1])
    r.call(act, "POST", f"/messages/{missing}/actions/take_over", body={}, user=COORD[0],
           org=COORD[1])
    r.call(act, "POST", f"/messages/{m}/actions/accept", body={}, user=COORD[0], org=COORD[1])
    r.call(act, "POST", f"/messages/{m}/actions/take_over", body={})
    for template, suffix in (("/messages/{id}", ""), ("/messages/{id}/history", "/history"),
                             ("/messages/{id}/timeline", "/timeline")):
        r.call(template, "GET", f"/messages/{m}{suffix}", user=COORD[0], org=COORD[1])
        r.call(template, "GET", f"/messages/{missing}{suffix}", user=COORD[0], org=COORD[1])
        r.call(template, "GET", f"/messages/{m}{suffix}")
        r.call(template, "GET", f"/messages/{m}{suffix}", user=COORD[0], org=1020)
    r.call("/messages/{id}/timeline", "GET", f"/messages/{m}/timeline", user=APPLICANT)
    r.call("/inbox", "GET", "/inbox?role=coordinator", user=COORD[0], org=COORD[1])
    r.call("/inbox", "GET", "/inbox?limit=0", user=COORD[0], org=COORD[1])
    r.call("/inbox", "GET", "/inbox")
    r.call("/inbox", "GET", "/inbox", user=COORD[0], org=1020)
    r.call("/my/messages", "GET", "/my/messages", user=APPLICANT)
    r.call("/my/messages", "GET", "/my/messages?limit=9999", user=APPLICANT)
    r.call("/my/messages", "GET", "/my/messages")
    daily, weekly = "/orgs/{org}/lists/daily", "/orgs/{org}/reports/weekly"
    for fmt in ("", "?format=csv", "?format=text", "?format=xml"):
        r.call(daily, "GET", f"/orgs/1010/lists/daily{fmt}", user=CURATOR[0], org=CURATOR[1])
    r.call(daily, "GET", "/orgs/1011/lists/daily", user=CURATOR[0], org=CURATOR[1])
    r.call(daily, "GET", "/orgs/1020/lists/daily", user=CURATOR[0], org=CURATOR[1])
    r.call(daily, "GET", "/orgs/1010/lists/daily", user=COORD[0], org=COORD[1])
    r.call(daily, "GET", "/orgs/1010/lists/daily?at=2026-03-02", user=CURATOR[0],
           org=CURATOR[1])
    r.call(daily, "GET", "/orgs/1010/lists/daily")
    for query in ("?week=2026-W10", "?week=2026-W10&format=csv", "", "?week=2026-W54",
                  "?week=2026-W10&format=json"):
        r.call(weekly, "GET", f"/orgs/1010/reports/weekly{query}", user=CURATOR[0],
               org=CURATOR[1])
    r.call(weekly, "GET", "/orgs/1020/reports/weekly?week=2026-W10", user=CURATOR[0],
           org=CURATOR[1])
    r.call(weekly, "GET", "/orgs/1010/reports/weekly?week=2026-W10", user=COORD[0], org=COORD[1])
    r.call(weekly, "GET", "/orgs/1010/reports/weekly?week=2026-W10", user=APPLICANT)
    # A body over the limit: h2o's own 413, as a JSON Error, on both POST operations.
    for template, path in (("/messages", "/messages"), (act, f"/messages/{m}/actions/reject")):
        big = b'{"text": "' + b"x" * (300 * 1024) + b'"}'
        out = gw.raw(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (path.encode(), len(big))
                     + big)
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        r.seen.append((template, "post", int(lines[0].split(" ")[1]), hdrs, json.loads(body)))
        assert r.seen[-1][2] == 413 and r.seen[-1][4]["field"] == "body", out[:300]
    exercise_directory(r)
    return r.seen


def exercise_directory(r):
    """The directory's admin endpoints, done and refused (tests/.../test_gateway_directory.py
    checks what they do)."""
    op, admin = (109, 1), (101009, 1010)
    org, user = "/directory/orgs/{org}", "/directory/orgs/{org}/users/{user}"
    auth = "/directory/orgs/{org}/users/{user}/authorities/{category}/{subcategory}"
    cat = "/directory/categories/{category}"
    a = {"user": admin[0], "org": admin[1]}
    r.call(org, "GET", "/directory/orgs/1011", **a)
    r.call(org, "GET", "/directory/orgs/1020", **a)
    r.call(org, "GET", "/directory/orgs/x", **a)
    r.call(org, "GET", "/directory/orgs/1011")
    r.call(org, "GET", "/directory/orgs/1011", user=COORD[0], org=COORD[1])
    r.call(org, "PUT", "/directory/orgs/1019901", body={"parent_id": 1011, "name": "Office"}, **a)
    r.call(org, "PUT", "/directory/orgs/1010", body={"parent_id": 1011, "name": "Loop"}, **a)
    r.call(user, "PUT", "/directory/orgs/1011/users/777", body={"roles": ["executor"]}, **a)
    r.call(user, "PUT", "/directory/orgs/1011/users/777", body={"roles": ["boss"]}, **a)
    r.call(user, "DELETE", "/directory/orgs/1011/users/777", **a)
    r.call(user, "DELETE", "/directory/orgs/1011/users/777", **a)
    r.call(auth, "PUT", "/directory/orgs/1011/users/101105/authorities/1/2",
           body={"may_agree": True}, **a)
    r.call(auth, "PUT", "/directory/orgs/1011/users/101102/authorities/1/2",
           body={"may_agree": True}, **a)
    r.call(auth, "DELETE", "/directory/orgs/1011/users/101105/authorities/1/2", **a)
    r.call(cat, "PUT", "/directory/categories/50", body={"name": "Parks", "total_days": 20},
           user=op[0], org=op[1])
    r.call(cat, "PUT", "/directory/categories/50", body={"name": "Parks", "total_days": 0},
           user=op[0], org=op[1])
    r.call(cat, "PUT", "/directory/categories/50", body={"name": "Parks", "total_days": 20}, **a)
    fault = {"full_name": "Иванов Иван", "position": "инженер", "email": "u101009@example.org",
             "organization": "Ministry of Transport", "description": "не открывается карточка"}
    r.call("/faults", "POST", "/faults", body=fault, **a)
    r.call("/faults", "POST", "/faults", body={**fault, "email": "nope"}, **a)
    r.call("/faults", "POST", "/faults", body=fault)
    r.call("/faults", "GET", "/faults?limit=5", user=op[0], org=op[1])
    r.call("/faults", "GET", "/faults?limit=x", user=op[0], org=op[1])
    r.call("/faults", "GET", "/faults", **a)


def test_the_document_is_valid_openapi_3_1():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_every_answer_is_documented_and_matches_its_schema(gw):
    seen = exercise(gw)
    ok = set()
    for template, method, status, hdrs, body in seen:
        op = SPEC["paths"][template][method]
        assert str(status) in op["responses"], (template, method, status, body)
        resp = inline(op["responses"][str(status)])
        ctype = hdrs["content-type"].split(";")[0]
        assert ctype in resp["content"], (template, method, status, ctype)
        if ctype == "application/json":
            jsonschema.validate(body, resp["content"][ctype]["schema"])
        else:
            assert isinstance(body, str) and body, (template, status)
        for name in resp.get("headers", {}):
            assert name.lower() in hdrs, (template, method, status, name)
        if 200 <= status < 300:
            ok.add((template, method))
    documented = {(p, m) for p, ops in SPEC["paths"].items() for m in ops}
    assert documented == ok, f"not exercised with success: {documented - ok}"


def concrete(template):
    return template.replace("{id}", str(uuid.uuid4())).replace("{action}", "accept") \
        .replace("{org}", "1010").replace("{user}", "2").replace("{category}", "3") \
        .replace("{subcategory}", "0")


def test_no_route_answers_that_the_document_does_not_list(gw):
    token = gw.token(APPLICANT)
    for template, ops in SPEC["paths"].items():
        for method in METHODS:
            if method.lower() in ops:
                continue
            st, _, b = gw.request(method, concrete(template), body={}, token=token)
            assert st == 405 and b["field"] == "method", (template, method, st)
    for path in ("/", "/messages/x/actions", "/requests", "/metrics", "/healthz", "/readyz",
                 "/admin", "/messages/x/history/y", "/my", "/inbox/x", "/orgs"):
        for method in METHODS:
            st, _, b = gw.request(method, path, body={}, token=token)
            assert st == 404 and b["field"] == "path", (path, method, st)
