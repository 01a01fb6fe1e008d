"""The gateway's read cache (services/gateway/README.md, "Read cache") with a real ledger,
projector, Kafka and PostgreSQL: a card read after `?wait=` said projected shows the event; a
hierarchy change reaches cached cards through okno_directory; losing the listener empties the
cache; a replay swap's notification empties it; it can be turned off; its metrics are served; an
action on a cached card that its caller sees skips the database's visibility check, and one the
cache does not see is still judged by PostgreSQL (404).
The rule itself equals the policies (tests/integration/test_rm_rule.c), and the tenant-isolation
matrix of test_gateway.py runs with the cache on and warm."""
import re
import time
import urllib.request

import pytest

from gateway_harness import Gateway
from harness import wait_until

APPLICANT = 5001
MODERATOR = (101, 1)
COORD = (101001, 1010)
EXEC = (101002, 1010)
OUTSIDER_CURATOR = (109801, 1098)  # an org made here, above nobody until a test moves 1010


@pytest.fixture(scope="module")
def gw():
    g = Gateway("gateway_cache")
    g.s.sql("insert into okno.orgs values (1098, null, 'Curators of the test') "
            "on conflict do nothing;"
            f"insert into okno.grants values ({OUTSIDER_CURATOR[0]}, 1098, array['curator']) "
            "on conflict do nothing")
    yield g
    g.close()


def metrics(gw, proc=None):
    port = (proc or gw.proc).admin_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {m[0]: float(m[1]) for m in
            re.findall(r"^(okno_gateway_read_cache_\w+) (\S+)$", text, re.M)}


def visible_cached(gw):
    port = gw.proc.admin_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return float(re.search(r"^okno_gateway_write_visibility_cached_total (\S+)$", text,
                           re.M).group(1))


def accepted_message(gw):
    m = gw.submit()
    gw.act(m, "accept", *MODERATOR, {"target_org_id": 1010})
    gw.projected(m, *COORD)
    return m


def card(gw, m, who=COORD, token=None):
    return gw.request("GET", f"/messages/{m}", user=None if token else who[0], org=who[1],
                      token=token)


def test_cache_metrics_count_hits_and_misses(gw):
    m = accepted_message(gw)
    token = gw.token(COORD[0])
    before = metrics(gw)
    bodies = [card(gw, m, token=token) for _ in range(5)]
    after = metrics(gw)
    assert all(st == 200 for st, _, _ in bodies)
    for _, _, b in bodies:  # time left moves, nothing else
        assert b.pop("stage_time_left_ms") > 0 and b.pop("answer_time_left_ms") > 0
    assert all(b == bodies[0][2] for _, _, b in bodies)
    assert after["okno_gateway_read_cache_hits_total"] >= before[
        "okno_gateway_read_cache_hits_total"] + 4
    assert after["okno_gateway_read_cache_entries"] >= 1
    assert after["okno_gateway_read_cache_bytes"] > 0
    for name in ("misses_total", "invalidations_total", "evictions_total", "flushes_total",
                 "refused_total"):
        assert f"okno_gateway_read_cache_{name}" in after


def test_a_card_read_after_projected_shows_the_event(gw):
    """The card is cached before each action; once ?wait= answers projected: true, the very next
    read shows the action's event, however late the projector's notification arrives."""
    m = accepted_message(gw)
    token = gw.token(COORD[0])
    steps = [("take_over", COORD, {}, "execution"),
             ("return_to_coordination", COORD, {"reason": "back"}, "coordination"),
             ("assign_executor", COORD, {"target_user_id": EXEC[0]}, "execution")]
    for action, who, body, stage in steps:
        for _ in range(3):
            assert card(gw, m, token=token)[0] == 200  # cached (and hit) at the old seq
        verdict = gw.act(m, action, *who, body)
        assert verdict["projected"] is True
        st, _, c = card(gw, m, token=token)
        assert st == 200, c
        assert c["seq"] == verdict["events"][-1]["seq"], (action, c["seq"], verdict)
        assert c["stage"] == stage and c["last_event_type"] == verdict["events"][-1]["type"]


def test_the_projectors_notification_reaches_a_cached_card(gw):
    """Without any status read (so only the projector's okno_rm_card notification can tell the
    cache), a cached card shows the next event within moments."""
    m = accepted_message(gw)
    token = gw.token(COORD[0])
    st, _, before = card(gw, m, token=token)
    assert card(gw, m, token=token)[2]["seq"] == before["seq"]  # a hit
    invalidations = metrics(gw)["okno_gateway_read_cache_invalidations_total"]
    st, _, b = gw.request("POST", f"/messages/{m}/actions/take_over", {}, token=token,
                          org=COORD[1])
    assert st == 202, b
    wait_until("the card to show take_over",
               lambda: card(gw, m, token=token)[2]["seq"] > before["seq"], timeout_s=10)
    assert card(gw, m, token=token)[2]["stage"] == "execution"
    assert metrics(gw)["okno_gateway_read_cache_invalidations_total"] > invalidations


def test_a_hierarchy_change_reaches_cached_cards(gw):
    """A curator of an org that 1010 is moved under sees 1010's cached card at once, and no
    longer when it is moved back: the okno_directory notification drops resolved callers."""
    m = accepted_message(gw)
    assert card(gw, m)[0] == 200  # cached
    st, _, missing = card(gw, m, OUTSIDER_CURATOR)
    assert st == 404
    try:
        gw.s.sql("update okno.orgs set parent_id = 1098 where org_id = 1010")
        wait_until("the curator above sees the card",
                   lambda: card(gw, m, OUTSIDER_CURATOR)[0] == 200, timeout_s=5)
    finally:
        gw.s.sql("update okno.orgs set parent_id = null where org_id = 1010")
    wait_until("the curator no longer sees it",
               lambda: card(gw, m, OUTSIDER_CURATOR)[:3:2] == (404, missing), timeout_s=5)


def listener_pids(gw):
    return [r[0] for r in gw.s.sql(
        f"select pid from pg_stat_activity where datname = '{gw.s.db}' "
        "and query like 'listen okno_directory%'")]


def test_losing_the_listener_empties_the_cache(gw):
    m = accepted_message(gw)
    token = gw.token(COORD[0])
    card(gw, m, token=token)
    assert metrics(gw)["okno_gateway_read_cache_entries"] >= 1
    flushes = metrics(gw)["okno_gateway_read_cache_flushes_total"]
    pids = listener_pids(gw)
    assert len(pids) == 1, pids
    gw.s.sql(f"select pg_terminate_backend({pids[0]})")
    # Down: flushed and offline; back within the retry: flushed again, then online.
    wait_until("the listener to be back", lambda: len(listener_pids(gw)) == 1 and
               listener_pids(gw)[0] != pids[0], timeout_s=10)
    wait_until("two flushes", lambda: metrics(gw)["okno_gateway_read_cache_flushes_total"]
               >= flushes + 2, timeout_s=10)
    assert metrics(gw)["okno_gateway_read_cache_entries"] == 0
    misses = metrics(gw)["okno_gateway_read_cache_misses_total"]
    assert card(gw, m, token=token)[0] == 200
    assert metrics(gw)["okno_gateway_read_cache_misses_total"] == misses + 1


def test_a_replay_swap_notification_empties_the_cache(gw):
    m = accepted_message(gw)
    card(gw, m)
    flushes = metrics(gw)["okno_gateway_read_cache_flushes_total"]
    gw.s.sql("select pg_notify('okno_rm_card', '*')")
    wait_until("a flush", lambda: metrics(gw)["okno_gateway_read_cache_flushes_total"]
               > flushes, timeout_s=5)
    assert metrics(gw)["okno_gateway_read_cache_entries"] == 0


def test_the_cache_can_be_turned_off(gw):
    m = accepted_message(gw)
    off = Gateway("gateway_cache_off", scratch=gw.s, **{"gateway.read_cache": "false"})
    try:
        token = off.token(COORD[0])
        for _ in range(3):
            st, _, c = off.request("GET", f"/messages/{m}", org=COORD[1], token=token)
            assert st == 200 and c["message_id"] == m and c["read_only"] is False
        st, _, b = off.request("GET", f"/messages/{m}", org=1020, token=off.token(102001))
        assert st == 404
        got = metrics(off, off.proc)
        assert got["okno_gateway_read_cache_hits_total"] == 0
        assert got["okno_gateway_read_cache_misses_total"] == 0
        assert got["okno_gateway_read_cache_entries"] == 0
    finally:
        off.close()


def test_an_action_on_a_cached_card_its_caller_sees_skips_the_database_check(gw):
    m = accepted_message(gw)
    token = gw.token(COORD[0])
    assert card(gw, m, token=token)[0] == 200  # the card and the caller's scope cached
    before = visible_cached(gw)
    assert gw.act(m, "take_over", *COORD)["status"] == "accepted"
    assert visible_cached(gw) == before + 1


def test_an_action_the_cache_does_not_see_is_judged_by_the_database(gw):
    """Org B's coordinator has the card cached as not visible to it: the action is 404 as for a
    missing id (PostgreSQL judged it: the cache confirms only "visible"), nothing produced."""
    m = accepted_message(gw)
    token = gw.token(102001)
    got = card(gw, m, who=(102001, 1020), token=token)
    assert got[0] == 404, got
    assert card(gw, m, token=gw.token(COORD[0]))[0] == 200  # cached
    before, produced = visible_cached(gw), gw.produced()
    st, _, b = gw.request("POST", f"/messages/{m}/actions/take_over", {}, token=token, org=1020)
    missing = gw.request("POST", "/messages/00000000-0000-4000-8000-000000000000/actions/"
                         "take_over", {}, token=token, org=1020)
    assert (st, b) == (missing[0], missing[2]) and st == 404
    assert visible_cached(gw) == before and gw.produced() == produced
