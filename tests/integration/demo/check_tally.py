"""Holds the simulated people's tally (okno demo --tally: one JSON line per request, with what
the gateway and the ledger told its author) against what okno recorded: the gateway's request
records, the ledger's decisions, refusals and events, and the read models' cards.

usage: check_tally.py TALLY.jsonl TOTALS.json CONNINFO"""
import collections
import csv
import io
import json
import subprocess
import sys

SIGNALS = {"stage_time_approaching", "stage_time_exceeded", "answer_deadline_approaching",
           "answer_deadline_expired", "postponed_date_reached"}


def psql(conninfo, script):
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", conninfo],
                         input=script, capture_output=True, text=True, check=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


def load(tally_path, conninfo):
    lines = [json.loads(l) for l in open(tally_path)]
    decided = [l for l in lines if l["decision"] in ("accepted", "refused")]
    ids = "\n".join(l["request_id"] for l in decided)
    # The messages submitted in this run: their whole lives are the people's doing (the people
    # also work on what earlier runs left open, whose requests are checked one by one).
    messages = "\n".join(sorted({l["message_id"] for l in decided
                                 if l["action"] == "submit" and l["decision"] == "accepted"}))
    script = f"""
create temp table t_req (request_id uuid primary key);
create temp table t_msg (message_id uuid primary key);
copy t_req from stdin;
{ids}
\\.
copy t_msg from stdin;
{messages}
\\.
select 'req' as kind, r.request_id::text as id, r.accepted::text as a, r.events::text as b,
       coalesce(f.reason_code, '') as c, coalesce(g.user_id::text, '') as d,
       coalesce((select string_agg(e.event_type || ':' || coalesce(e.actor_user::text, ''), ','
                                   order by e.seq)
                 from okno.event_log e where e.request_id = r.request_id
                   and e.message_id = r.message_id), '') as e
from t_req join okno.requests r using (request_id)
left join okno.refusals f using (request_id)
left join okno.gateway_requests g using (request_id)
union all
select 'card', c.message_id::text, c.outcome, coalesce(c.answer_type, ''), c.seq::text, '', ''
from okno_rm.card c where c.message_id in (select message_id from t_msg)
   or c.message_id in (select r.message_id from okno.requests r join t_req using (request_id))
union all
select 'stray', e.message_id::text, e.request_id::text, e.event_type, '', '', ''
from t_msg join okno.event_log e using (message_id)
where e.actor_user is not null and e.request_id not in (select request_id from t_req);
"""
    return lines, decided, psql(conninfo, script)


def check(tally_path, totals_path, conninfo):
    lines, decided, rows = load(tally_path, conninfo)
    totals = json.load(open(totals_path))
    reqs = {r["id"]: r for r in rows if r["kind"] == "req"}
    cards = {r["id"]: r for r in rows if r["kind"] == "card"}
    strays = [r for r in rows if r["kind"] == "stray"]
    errors = []

    def fail(what, line):
        errors.append(f"{what}: {json.dumps(line, ensure_ascii=False)}")

    assert decided, "the people made no decided request at all"
    for l in decided:
        r = reqs.get(l["request_id"])
        if r is None:
            fail("the ledger holds no decision for a request the people were told about", l)
            continue
        if r["d"] != str(l["user"]):
            fail(f"the gateway recorded the request for user {r['d']}", l)
        if l["decision"] == "refused":
            if r["a"] != "false" or r["c"] != l["refusal"]["code"]:
                fail(f"told refused ({l['refusal']['code']}), the ledger says {r['a']} {r['c']}", l)
            continue
        events = [e.split(":") for e in r["e"].split(",") if e]
        if r["a"] != "true" or int(r["b"]) != l["events"] or len(events) != l["events"]:
            fail(f"told accepted with {l['events']} events, the log holds {len(events)}", l)
        actors = {int(u) for _, u in events if u}
        if actors and actors != {l["user"]}:
            fail(f"events of the request name actors {actors}", l)
    for s in strays:
        errors.append(f"the log holds an act nobody in the tally did: {s}")

    # The read models: every message the people submitted has its card; what closed it is what
    # its closer was told.
    closed = {}
    for l in decided:
        if l["decision"] != "accepted":
            continue
        if l["action"] == "submit" and l["message_id"] not in cards:
            fail("no card for a submitted message", l)
        if l["action"] == "reject":
            closed[l["message_id"]] = ("rejected_by_moderator", "")
        if l["action"] == "approve" and l.get("stage") == "none":
            closed[l["message_id"]] = ("answered", l["approved"])
    for mid, (outcome, answer_type) in closed.items():
        c = cards.get(mid)
        if c is None or c["a"] != outcome or c["b"] != answer_type:
            errors.append(f"message {mid}: the people closed it as {outcome} {answer_type}, "
                          f"the card says {c and (c['a'], c['b'])}")
    submitted = {l["message_id"] for l in decided
                 if l["action"] == "submit" and l["decision"] == "accepted"}
    for mid, c in cards.items():
        if mid in submitted and c["a"] != "open" and mid not in closed:
            errors.append(f"message {mid} is {c['a']} on its card, but nobody was told they closed it")

    # The summed totals are the sum of the lines.
    acc = collections.Counter(l["action"] for l in decided if l["decision"] == "accepted")
    ref = collections.Counter(l["action"] for l in decided if l["decision"] == "refused")
    for action, n in totals["actions"].items():
        if n["accepted"] != acc[action] or n["refused"] != ref[action]:
            errors.append(f"totals for {action} {n} differ from the lines ({acc[action]}, {ref[action]})")
    if totals["submitted"] != acc["submit"]:
        errors.append(f"totals submitted {totals['submitted']} != {acc['submit']} lines")
    answered = collections.Counter(a for o, a in closed.values() if o == "answered")
    for t, n in totals["answered"].items():
        if answered[t] != n:
            errors.append(f"totals answered {t} {n} != {answered[t]} closing approvals")
    if totals["pending"] != 0 or totals["transport_errors"] != 0:
        errors.append(f"requests left undecided or unanswered: {totals}")

    kinds = collections.Counter(l["action"] for l in decided if l["decision"] == "accepted")
    print(f"check_tally: {len(decided)} decided requests, {len(cards)} messages, "
          f"{len(closed)} closed; accepted by action: {dict(kinds)}")
    if errors:
        print("\n".join(errors[:50]), file=sys.stderr)
        sys.exit(f"check_tally: {len(errors)} mismatches")
    # A demo that did not reach every kind of step proves little.
    for need in ("submit", "accept", "assign_executor", "take_into_work", "draft_answer", "approve"):
        assert kinds[need] > 0, f"no accepted {need} in the demo"


if __name__ == "__main__":
    check(*sys.argv[1:4])
