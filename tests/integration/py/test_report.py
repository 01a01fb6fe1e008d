"""The weekly summary report (SPEC 4.2, common/report): every number `okno report weekly` prints
equals an independent computation that decodes the event log's Avro bodies itself (fastavro and
schemas/*.avsc, nothing of okno's C code); the CSV parses back to those numbers; the HTML page is
self-contained, Chromium renders it to a PNG and a PDF, and each chart's bars and points draw the
report's numbers. The gateway serves the same lists and report, byte for byte, under row-level
security, to the curators and org admins of the org or an org above it and to nobody else."""
import csv
import datetime
import io
import json
import math
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

from gateway_harness import Gateway
from harness import BUILD, ROOT, Scratch, decode, okno, schemas_by_fingerprint

MSK_MS = 3 * 3600 * 1000
DAY_MS = 86400 * 1000
WEEKS = 8
STAGES = ["moderation", "coordination", "execution", "agreement", "approval"]
SHARE = {"moderation": 5, "coordination": 5, "execution": 65, "agreement": 15, "approval": 10}
ANSWERS = ["resolved", "not_resolved", "postponed", "rejected"]
COUNTERS = ["submitted", "entered", "left_count", "left_overdue", "stage_approaching",
            "stage_exceeded", "answered", "answered_overdue", "interim", "rejected_by_moderator",
            "redirected", "deadline_expired"]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
START_MS = 1772431200000  # 2026-03-02T06:00:00Z, a Monday


def ms(value):
    """fastavro gives timestamp-millis as an aware datetime; back to Unix ms, exactly."""
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    return value


def moscow_day(at_ms):
    return (at_ms + MSK_MS) // DAY_MS


def week_label(day):
    date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
    year, week, _ = date.isocalendar()
    return f"{year:04d}-W{week:02d}"


def wilson(k, n):
    z = 1.959963984540054
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, max(0.0, centre - half), min(1.0, centre + half)


def events_by_message(scratch):
    """Every event of the log, decoded from its body, grouped by message in seq order."""
    schemas = schemas_by_fingerprint()
    rows = scratch.sql("select encode(body, 'hex') from okno.event_log"
                       " order by message_id, seq")
    lives = defaultdict(list)
    for (body,) in rows:
        name, ev = decode(bytes.fromhex(body), schemas)
        assert name == "Event"
        lives[ev["message_id"]].append(ev)
    return lives


def fold(lives):
    """The counters the read models' statistics keep, as increments
    (moscow_day, org, category, stage, answer_type, counter), and every ended stage visit
    (stage, org, left_ms, duration_ms, message), both from the bodies alone."""
    incs, visits, total_days = [], [], {}
    for mid, events in lives.items():
        stage = org = None
        category, answer, deadline = 0, "", None
        visit = None
        for ev in events:
            t, p, at = ev["type"], ev["payload"], ms(ev["occurred_at"])
            day = moscow_day(at)
            before = (stage, org, category, answer, deadline)
            after_stage, after_org = ev["stage_after"], ev["holding_org_after"]
            if t in ("message_submitted", "message_accepted"):
                if p["category_id"] is not None:
                    category = p["category_id"]
                total_days[mid] = p["total_days"]
                deadline = ms(p["answer_deadline"])
            if t == "answer_drafted":
                answer = p["answer_type"]
            if t == "approval_given" and p["answer_deadline"] is not None:
                deadline = ms(p["answer_deadline"])
            b_stage, b_org, b_cat, b_answer, b_deadline = before
            moved = after_stage != ev["stage_before"] or after_org != b_org
            if moved and b_stage is not None:
                incs.append((day, b_org, b_cat, b_stage, "", "left_count"))
                if visit["exceeded"]:
                    incs.append((day, b_org, b_cat, b_stage, "", "left_overdue"))
                visits.append((b_stage, b_org, at, at - visit["entered"], mid))
            if moved and after_stage is not None:
                incs.append((day, after_org, category, after_stage, "", "entered"))
                visit = {"entered": at, "exceeded": False}
            if t == "message_submitted":
                incs.append((day, after_org, category, "", "", "submitted"))
            elif t == "message_rejected":
                incs.append((day, b_org, b_cat, "", "", "rejected_by_moderator"))
            elif t == "approval_given":
                if p["subject"] == "redirect":
                    incs.append((day, b_org, b_cat, "", "", "redirected"))
                elif p["interim"]:
                    incs.append((day, b_org, b_cat, "", "postponed", "interim"))
                else:
                    incs.append((day, b_org, b_cat, "", b_answer, "answered"))
                    if at > b_deadline:
                        incs.append((day, b_org, b_cat, "", b_answer, "answered_overdue"))
            elif t in ("stage_time_approaching", "stage_time_exceeded"):
                incs.append((day, b_org, b_cat, b_stage, "",
                             "stage_approaching" if t.endswith("approaching")
                             else "stage_exceeded"))
                if t == "stage_time_exceeded":
                    visit["exceeded"] = True
            elif t == "answer_deadline_expired":
                incs.append((day, b_org, b_cat, "", "", "deadline_expired"))
            stage, org = after_stage, after_org
    return incs, visits, total_days


def independent_report(scratch, lives, org_id, monday):
    """The report's numbers, keyed as its CSV: (section, key, metric) -> value."""
    tree = {int(r[0]) for r in scratch.sql(
        f"with recursive t(o) as (select {org_id}::bigint union"
        f" select org_id from okno.orgs, t where parent_id = t.o) select o from t")}
    incs, visits, total_days = fold(lives)
    first = monday - 7 * (WEEKS - 1)
    out = {("report", "all", "org_id"): org_id, ("report", "all", "week"): week_label(monday),
           ("report", "all", "orgs"): len(tree)}

    def zero():
        return {c: 0 for c in COUNTERS}

    weeks = [zero() for _ in range(WEEKS)]
    stages = {s: zero() for s in STAGES}
    answers = {a: zero() for a in ANSWERS}
    cats, orgs = defaultdict(zero), defaultdict(zero)
    for day, org, cat, stage, answer, counter in incs:
        if org not in tree or not first <= day < monday + 7:
            continue
        wk = (day - first) // 7
        weeks[wk][counter] += 1
        if wk != WEEKS - 1:
            continue
        if stage:
            stages[stage][counter] += 1
        if answer:
            answers[answer][counter] += 1
        cats[cat][counter] += 1
        orgs[org][counter] += 1

    def put(section, key, counts, share):
        for c in COUNTERS:
            out[(section, key, c)] = counts[c]
        if not share:
            return
        n = counts["answered"]
        k = n - counts["answered_overdue"]
        out[(section, key, "on_time")] = k
        out[(section, key, "on_time_n")] = n
        if n > 0:
            s, lo, hi = wilson(k, n)
            out[(section, key, "on_time_share")] = s
            out[(section, key, "on_time_low")] = lo
            out[(section, key, "on_time_high")] = hi

    put("total", "all", weeks[-1], True)
    lo_ms = monday * DAY_MS - MSK_MS
    hi_ms = lo_ms + 7 * DAY_MS
    for s in STAGES:
        put("stage", s, stages[s], False)
        mine = [(d, total_days[m] * 864000 * SHARE[s]) for st, o, left, d, m in visits
                if st == s and o in tree and lo_ms <= left < hi_ms]
        durations = sorted(d for d, _ in mine)
        allotted = sorted(a for _, a in mine)

        def nearest(values, p):
            return values[math.ceil(p * len(values)) - 1] if values else 0

        out[("stage", s, "visits_timed")] = len(mine)
        out[("stage", s, "median_ms")] = nearest(durations, 0.5)
        out[("stage", s, "p90_ms")] = nearest(durations, 0.9)
        out[("stage", s, "allotted_median_ms")] = nearest(allotted, 0.5)
    for a in ANSWERS:
        put("answer_type", a, answers[a], False)
    for key, counts in sorted(cats.items()):
        if any(counts.values()):
            put("category", str(key), counts, True)
    for key, counts in sorted(orgs.items()):
        if any(counts.values()):
            put("org", str(key), counts, True)
    for i in range(WEEKS):
        put("trend", week_label(first + 7 * i), weeks[i], True)
    return out


def parse_csv(text):
    lines = text.strip().splitlines()
    assert lines[0] == "section,key,metric,value"
    parsed = {}
    for line in lines[1:]:
        section, key, metric, value = line.split(",")
        assert (section, key, metric) not in parsed, line
        if metric == "week":
            parsed[(section, key, metric)] = value
        elif "." in value:
            parsed[(section, key, metric)] = float(value)
        else:
            parsed[(section, key, metric)] = int(value)
    return parsed


def assert_same(report, expected):
    missing = sorted(set(expected) - set(report))
    extra = sorted(set(report) - set(expected))
    assert not missing and not extra, f"keys only expected: {missing[:10]}; only in the report: " \
                                      f"{extra[:10]}"
    wrong = [(k, report[k], expected[k]) for k in expected
             if (abs(report[k] - expected[k]) > 1e-6 if isinstance(expected[k], float)
                 else report[k] != expected[k])]
    assert not wrong, f"{len(wrong)} numbers differ, e.g. {wrong[:10]}"


BAR = re.compile(r'<rect class="bar" data-key="([^"]*)" data-series="([^"]*)" '
                 r'data-value="([^"]*)" x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)"')
POINT = re.compile(r'<circle class="point" data-key="([^"]*)" data-value="([^"]*)" '
                   r'data-n="([^"]*)" cx="[^"]*" cy="([^"]*)"')


def svg(html, chart_id):
    m = re.search(rf'<svg id="{chart_id}"[^>]*data-max="([^"]*)"[^>]*>(.*?)</svg>', html, re.S)
    assert m, f"chart {chart_id} missing"
    return float(m.group(1)), m.group(2)


def check_bars(html, chart_id, section, numbers):
    top, plot = 24.0, 200.0
    max_value, body = svg(html, chart_id)
    bars = BAR.findall(body)
    assert bars, f"{chart_id} has no bars"
    drawn_max = max([float(v) for _, _, v, _, _ in bars] + [0.0])
    assert max_value >= drawn_max
    for key, series, value, y, height in bars:
        if series.endswith("_pct"):  # time per stage in % of the stage's allotment
            allotted = numbers[(section, key, "allotted_median_ms")]
            want_value = 100.0 * numbers[(section, key, series[:-4] + "_ms")] / allotted \
                if allotted else 0.0
            assert abs(float(value) - want_value) < 1e-5, (chart_id, key, series)
        else:
            assert float(value) == numbers[(section, key, series)], (chart_id, key, series)
        want = float(value) * plot / max_value if max_value > 0 else 0.0
        assert abs(float(height) - want) < 0.011, (chart_id, key, series, height, want)
        assert abs(float(y) + float(height) - (top + plot)) < 0.011
    return len(bars)


def check_html(html, numbers, categories):
    lowered = html.lower()
    for forbidden in ("<script", "<link", "src=", "url(", "@import", "https:"):
        assert forbidden not in lowered, forbidden
    assert re.findall(r"http://[^\"]*", html) == ["http://www.w3.org/2000/svg"] * 5
    assert "@media print" in html
    assert check_bars(html, "chart-stages", "stage", numbers) == 2 * len(STAGES)
    assert check_bars(html, "chart-times", "stage", numbers) == 2 * len(STAGES)
    assert check_bars(html, "chart-answers", "answer_type", numbers) == 2 * len(ANSWERS)
    assert check_bars(html, "chart-categories", "category", numbers) == 2 * len(categories)
    _, body = svg(html.replace('id="chart-trend" class="chart"',
                               'id="chart-trend" class="chart" data-max="1"'), "chart-trend")
    points = POINT.findall(body)
    weeks_with_answers = [k for (s, k, m), v in numbers.items()
                          if s == "trend" and m == "on_time_n" and v > 0]
    assert sorted(p[0] for p in points) == sorted(weeks_with_answers)
    for key, value, n, cy in points:
        share = numbers[("trend", key, "on_time_share")]
        assert abs(float(value) - share) < 1e-6 and int(n) == numbers[("trend", key, "on_time_n")]
        assert abs(float(cy) - (24 + 200 * (1 - share))) < 0.011


def chromium_render(html_path, out_dir):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (deploy/bootstrap.sh installs it)"
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={out_dir}/profile"]
    png, pdf = out_dir / "report.png", out_dir / "report.pdf"
    subprocess.run(common + [f"--screenshot={png}", "--window-size=1000,3200",
                             f"file://{html_path}"], check=True, capture_output=True, timeout=120)
    subprocess.run(common + [f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                             f"file://{html_path}"], check=True, capture_output=True, timeout=120)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
    return png, pdf


@pytest.fixture(scope="module")
def scratch():
    s = Scratch("report")
    # ~10 weeks of traffic over the demo directory (20 ministries, 3 regional bodies each).
    # A second generator whose lives run for weeks: late answers, expired deadlines.
    for events, seed, step in (("60000", "7", "150000"), ("8000", "8", "1200000")):
        subprocess.run([str(BUILD / "bench" / "okno_loggen"), "--pg", s.admin_conninfo,
                        "--events", events, "--seed", seed, "--start-ms", str(START_MS),
                        "--step-ms", step], check=True, capture_output=True)
    okno("replay", "--pg", s.admin_conninfo)
    yield s
    s.close()


# A ministry with its regional bodies, one regional body, the operator (moderation only).
@pytest.mark.parametrize("org_id", [1010, 1012, 1])
def test_weekly_report_equals_independent_computation(scratch, org_id):
    lives = events_by_message(scratch)
    monday = moscow_day(START_MS) + 7 * 7  # the 8th week: a full trend behind it
    label = week_label(monday)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        okno("report", "weekly", "--org", str(org_id), "--week", label, "--pg",
             scratch.admin_conninfo, "--csv", str(tmp / "r.csv"), "--html", str(tmp / "r.html"))
        numbers = parse_csv((tmp / "r.csv").read_text())
        expected = independent_report(scratch, lives, org_id, monday)
        assert_same(numbers, expected)
        # Enough happened for the comparison to mean something.
        if org_id == 1:
            assert numbers[("total", "all", "submitted")] > 100
            assert numbers[("stage", "moderation", "visits_timed")] > 100
            assert numbers[("total", "all", "rejected_by_moderator")] > 0
        else:
            least = 20 if org_id == 1010 else 1
            assert numbers[("total", "all", "answered")] >= least
            assert numbers[("stage", "execution", "visits_timed")] >= least
            assert sum(v for (s, k, m), v in numbers.items()
                       if s == "trend" and m == "answered") > numbers[("total", "all", "answered")]
        if org_id == 1010:  # late answers and expired deadlines in the trend: shares below 1
            assert sum(v for (s, k, m), v in numbers.items()
                       if s == "trend" and m == "answered_overdue") > 0
            assert sum(v for (s, k, m), v in numbers.items()
                       if s == "trend" and m == "deadline_expired") > 0
        categories = {k for (s, k, m) in numbers if s == "category"}
        html = (tmp / "r.html").read_text()
        check_html(html, numbers, categories)
        png, pdf = chromium_render(tmp / "r.html", tmp)
        keep = Path(BUILD) / "test_report"
        keep.mkdir(exist_ok=True)
        shutil.copy(png, keep / f"weekly_{org_id}.png")
        shutil.copy(pdf, keep / f"weekly_{org_id}.pdf")
        shutil.copy(tmp / "r.html", keep / f"weekly_{org_id}.html")


def test_weekly_bad_week_is_a_clear_error(scratch):
    out = subprocess.run([str(BUILD / "tools/okno/okno"), "report", "weekly", "--org", "1010",
                          "--week", "2026-W54", "--pg", scratch.admin_conninfo],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "not an ISO week" in out.stderr
    out = subprocess.run([str(BUILD / "tools/okno/okno"), "report", "weekly", "--org", "77",
                          "--week", "2026-W10", "--pg", scratch.admin_conninfo],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "no org 77" in out.stderr


# Through the gateway: (org reported, user, org they act for). Demo directory: curator O*100+8,
# org admin O*100+9, executor O*100+2; 1011..1013 are below 1010.
CURATOR_1010, ADMIN_1012, CURATOR_1012, CURATOR_1020 = 101008, 101209, 101208, 102008
SERVED = [(1010, CURATOR_1010, 1010), (1012, CURATOR_1010, 1010), (1012, ADMIN_1012, 1012)]


@pytest.fixture(scope="module")
def gateway(scratch):
    g = Gateway("report", scratch=scratch)
    yield g
    g.close()


def report_week():
    return week_label(moscow_day(START_MS) + 7 * 7)


@pytest.mark.parametrize("org_id, user, acting", SERVED)
def test_gateway_serves_the_weekly_report_as_okno_report_writes_it(scratch, gateway, org_id,
                                                                   user, acting):
    week = report_week()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        okno("report", "weekly", "--org", str(org_id), "--week", week, "--pg",
             scratch.admin_conninfo, "--csv", str(tmp / "r.csv"), "--html", str(tmp / "r.html"))
        for query, ctype, path in (("&format=csv", "text/csv", "r.csv"),
                                   ("&format=html", "text/html", "r.html"),
                                   ("", "text/html", "r.html")):
            st, hdrs, body = gateway.request(
                "GET", f"/orgs/{org_id}/reports/weekly?week={week}{query}", user=user, org=acting)
            assert st == 200 and hdrs["content-type"].startswith(ctype), (st, body)
            assert body == (tmp / path).read_text(), query
        numbers = parse_csv((tmp / "r.csv").read_text())
    assert numbers[("total", "all", "answered")] > 0  # the rows RLS lets through are all there


def without_now(lists):
    """The daily lists with every row's times made relative to the moment they are for (used
    and late grow with it; which rows are listed does not change here: the traffic is months
    old, every open message long past its stage time and deadline)."""
    at = lists.pop("at_ms")
    lists.pop("at")
    for rows in lists["lists"].values():
        for row in rows:
            row["used_ms"] -= at
            row["late_ms"] -= at
    return lists


@pytest.mark.parametrize("org_id, user, acting", SERVED)
def test_gateway_serves_the_daily_lists_as_okno_report_prints_them(scratch, gateway, org_id,
                                                                  user, acting):
    st, hdrs, served = gateway.request("GET", f"/orgs/{org_id}/lists/daily", user=user,
                                       org=acting)
    assert st == 200 and hdrs["content-type"] == "application/json", served
    printed = json.loads(okno("report", "daily", "--org", str(org_id), "--json", "--pg",
                              scratch.admin_conninfo))
    assert without_now(served) == without_now(printed)
    if org_id == 1010:  # the ministry's tree holds open messages (its regional body may not)
        assert served["lists"]["expired"] and served["lists"]["exceeded"]
    st, hdrs, csv_text = gateway.request("GET", f"/orgs/{org_id}/lists/daily?format=csv",
                                         user=user, org=acting)
    assert st == 200 and hdrs["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(rows) == sum(len(v) for v in served["lists"].values())
    assert {r["message_id"] for r in rows} == \
        {r["message_id"] for v in served["lists"].values() for r in v}


def test_gateway_reports_beyond_the_callers_scope_are_not_found(gateway):
    week = report_week()

    def get(path, user, org):
        return gateway.request("GET", path, user=user, org=org)

    missing = get(f"/orgs/999999/reports/weekly?week={week}", CURATOR_1010, 1010)
    assert missing[0] == 404
    for path in (f"/orgs/{{}}/reports/weekly?week={week}", "/orgs/{}/lists/daily"):
        # An org above, a sibling, another ministry: byte for byte a missing org's answer.
        for org, user, acting in ((1010, CURATOR_1012, 1012), (1011, CURATOR_1012, 1012),
                                  (1010, CURATOR_1020, 1020), (1011, ADMIN_1012, 1012)):
            st, _, body = get(path.format(org), user, acting)
            assert (st, body) == (404, missing[2]), (path, org, user)
        # Staff of the org without the curator's or org admin's role; an applicant.
        st, _, body = get(path.format(1010), 101002, 1010)
        assert st == 403 and body["error"] == "role_not_allowed"
        st, _, body = get(path.format(1010), 5001, None)
        assert (st, body) == (404, missing[2])


def test_gateway_role_sees_only_the_scopes_counters(scratch, gateway):
    """The policy on stats_daily by hand, as the okno_gateway role: a curator of 1012 sees its
    own org's counters and none of its sibling's or its parent's; no caller sees none."""
    read = scratch.app_conninfo.replace("user=okno_app", "user=okno_gateway") \
        .replace("password=okno_app", "password=okno_gateway")

    def count(settings):
        sql = ("begin; " + "".join(f"select set_config('{k}', '{v}', true); "
                                   for k, v in settings.items()) +
               "select string_agg(org_id::text || ':' || n::text, ',' order by org_id) from"
               " (select org_id, count(*) n from okno_rm.stats_daily"
               " where org_id in (1010, 1011, 1012) group by org_id) x; commit;")
        out = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", read, "-c",
                              sql], check=True, capture_output=True, text=True).stdout
        return out.split()[-1] if out.split() else ""
    everything = scratch.sql("select org_id, count(*) from okno_rm.stats_daily"
                             " where org_id in (1010, 1011, 1012) group by org_id order by 1")
    assert len(everything) == 3
    mine = count({"okno.caller_user": CURATOR_1012, "okno.caller_org": 1012})
    assert mine == f"1012:{dict(everything)['1012']}"
    assert count({}) in ("", ":")
