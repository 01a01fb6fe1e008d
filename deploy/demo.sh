#!/usr/bin/env bash
# The main job: the regulation lived by simulated people. Brings up the local okno cluster on a
# fast clock (a simulated day in about OKNO_DEMO_DAY_S real seconds), lets applicants, intake
# operators, moderators, coordinators, executors and managers work through the gateway's HTTP
# API for OKNO_DEMO_DAYS simulated days (okno demo), with a progress line, then prints what
# happened: messages by outcome and answer type, the on-time share, SLA signals by kind,
# notifications, the curators' daily lists (kept in .work/demo/reports), what the people did,
# and one message's audited history. Each section is a function of the summary.
#   demo.sh [--keep]   --keep leaves the cluster running and prints how to log in as each role
# The demo has a cluster of its own in .work/demo (OKNO_DEMO_WORK), apart from the development
# cluster in .work: each run starts it afresh (the previous demo's data is deleted), so a second
# run tells the same story as the first.
#   OKNO_DEMO_DAYS (30), OKNO_DEMO_RATE (40 messages a simulated day), OKNO_DEMO_ORGS (2
#   ministries with their regional and municipal bodies), OKNO_DEMO_SEED (1), OKNO_DEMO_DAY_S (4).
set -euo pipefail
OKNO_SCRIPT=demo
OKNO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export OKNO_WORK=${OKNO_DEMO_WORK:-$OKNO_ROOT/.work/demo}
. "$OKNO_ROOT/deploy/lib.sh"
. "$OKNO_ROOT/deploy/local/services.sh"
. "$OKNO_ROOT/deploy/local/clock.sh"

keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --keep) keep=1 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) okno_die "unknown option $1 (try --help)" ;;
    esac
    shift
done

days=${OKNO_DEMO_DAYS:-30}
speed=$((86400 / ${OKNO_DEMO_DAY_S:-4} * 1000 / 1000))
okno=$OKNO_BUILD/tools/okno/okno

# ---- the cluster, its services on the demo's clock --------------------------------------------
demo_up() {
    if [ -f "$OKNO_CLUSTER_ENV" ]; then
        okno_say "starting the demo's cluster afresh (the previous demo's data in $OKNO_WORK goes)"
        "$OKNO_ROOT/deploy/local/down" --purge
        rm -rf "$OKNO_WORK/clock.env" "$OKNO_WORK"/demo-* "$OKNO_WORK/reports" "$OKNO_WORK/mail"
    fi
    "$OKNO_ROOT/deploy/local/up" --no-services
    okno_load_cluster_env
    okno_clock_fast "$speed"
    OKNO_SKIP_BOOTSTRAP=1 "$OKNO_ROOT/deploy/local/up" --no-build
    "$OKNO_ROOT/deploy/local/status" >/dev/null || okno_die "the cluster is not healthy (deploy/local/status)"
}

sql() { PGPASSWORD=okno_owner psql -X -q -tA -F ' | ' -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d okno -c "$1"; }
table() { sql "$1" | column -t -s '|' | sed 's/^/  /'; }
sim_now_ms() { echo $((OKNO_CLOCK__ORIGIN_MS + ($(date +%s%3N) - OKNO_CLOCK__ORIGIN_MS) * OKNO_CLOCK__SPEED)); }

# ---- the people ------------------------------------------------------------------------------
demo_run() {
    started_ms=$(sim_now_ms)
    since="to_timestamp($started_ms / 1000.0)"
    okno_say "simulated people at work for $days simulated days (about $((days * ${OKNO_DEMO_DAY_S:-4}))s)"
    OKNO_GATEWAY_URL=http://127.0.0.1:$(cat "$OKNO_WORK/run/gateway.http_port") \
        OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO OKNO_TOKEN_KEY=$OKNO_WORK/auth/signing.jwk \
        "$okno" demo --duration "${days}d" --rate "${OKNO_DEMO_RATE:-40}" \
        --orgs "${OKNO_DEMO_ORGS:-2}" --seed "${OKNO_DEMO_SEED:-1}" \
        --tally "$OKNO_WORK/demo-tally.jsonl" >"$OKNO_WORK/demo-totals.json"
    local total
    total=$(sql "select count(*) from okno.event_log")
    okno_wait 60 "the projector to apply every event" bash -c \
        "[ \$(PGPASSWORD=okno_owner psql -X -tA -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c 'select events_applied from okno_rm.meta') -ge $total ]" ||
        okno_die "the projector did not catch up in time; see $OKNO_WORK/log/projector.log"
}

# ---- the summary: one function a section, each free to grow ----------------------------------
summary_outcomes() {
    echo "== messages of this run by outcome and answer type (read models)"
    table "select outcome, coalesce(answer_type, '-') as answer_type, count(*) from okno_rm.card
           where submitted_at >= $since group by 1, 2 order by 3 desc"
}

summary_on_time() {
    echo "== answered on time (closed by the answer deadline)"
    table "select count(*) filter (where closed_at <= answer_deadline) || ' of ' || count(*) ||
                  ' answered messages' as sample,
                  coalesce(round(100.0 * count(*) filter (where closed_at <= answer_deadline) /
                                 nullif(count(*), 0), 1) || ' %', '-') as on_time
           from okno_rm.card where submitted_at >= $since and outcome = 'answered'"
}

summary_signals() {
    echo "== SLA signals raised by the timer, by kind"
    table "select e.event_type, count(*) from okno.event_log e
           where e.occurred_at >= $since and e.actor_user is null group by 1 order by 2 desc"
}

# The notifier's notifications and mails, once its tables exist (okno.notifications).
summary_notifications() {
    [ "$(sql "select to_regclass('okno.notifications') is not null")" = t ] || return 0
    echo "== notifications by kind and mail state"
    table "select kind, mail_state, count(*) from okno.notifications
           where event_at >= $since group by 1, 2 order by 3 desc"
}

# The curators' daily lists of each ministry in play and everything below it, kept as files.
summary_daily_lists() {
    "$okno" report --help >/dev/null 2>&1 || return 0
    echo "== the curators' daily lists (okno report daily), kept to read afterwards"
    mkdir -p "$OKNO_WORK/reports"
    local org f
    for org in $(sql "select org_id from okno.orgs where parent_id is null and org_id <> 1
                      order by org_id limit ${OKNO_DEMO_ORGS:-2}"); do
        f=$OKNO_WORK/reports/daily-$org.txt
        OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO "$okno" report daily --org "$org" >"$f" 2>&1 ||
            echo "  (okno report daily --org $org failed; see $f)"
        echo "  org $org: $(wc -l <"$f") lines in $f"
    done
}

# The mails the notifier delivered to the local sink (deploy/local/mail_sink.py), kept as .eml
# files; the notifier sends what is due within a few seconds, so wait until nothing is pending.
summary_mails() {
    [ -d "$OKNO_WORK/mail" ] || return 0
    okno_wait 60 "the notifier to mail what is due" bash -c "[ \$(PGPASSWORD=okno_owner psql -X -tA \
        -h 127.0.0.1 -p $OKNO_PG_PORT -U okno_owner -d okno -c \"select count(*) from okno.notifications
        where mail_state = 'pending' and next_attempt_at <= now()\") = 0 ]" || true
    echo "== mails delivered to the local SMTP sink, kept as .eml files to open"
    /usr/bin/python3 - "$OKNO_WORK/mail" <<'EOF'
import collections, email, email.policy, pathlib, re, sys
folder = pathlib.Path(sys.argv[1])
mails = sorted(folder.glob("*.eml"))
kinds = collections.Counter()
first = {}
for path in mails:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    # One line per kind of mail: dates, week numbers and what follows a colon (the figures of a
    # digest, the org of a report) folded away.
    kind = re.sub(r"\d[\d.W-]*", "…", str(msg["Subject"])).split(":")[0].strip()
    kinds[kind] += 1
    first.setdefault(kind, path)
print(f"  {len(mails)} mails in {folder}")
for kind, n in kinds.most_common():
    print(f"  {n:6}  {kind}   (e.g. {first[kind].name})")
EOF
}

# The weekly summary (SPEC 4.2) of the last whole simulated week for each ministry in play, as the
# self-contained HTML page and its CSV.
summary_weekly_report() {
    "$okno" report --help >/dev/null 2>&1 || return 0
    echo "== the weekly summary report (okno report weekly), kept to open afterwards"
    mkdir -p "$OKNO_WORK/reports"
    local week org out
    week=$(python3 -c 'import datetime, sys; d = datetime.datetime.fromtimestamp(int(sys.argv[1]) / 1000, datetime.timezone(datetime.timedelta(hours=3))) - datetime.timedelta(days=7); y, w, _ = d.isocalendar(); print(f"{y}-W{w:02d}")' "$(sim_now_ms)")
    for org in $(sql "select org_id from okno.orgs where parent_id is null and org_id <> 1
                      order by org_id limit ${OKNO_DEMO_ORGS:-2}"); do
        out=$OKNO_WORK/reports/weekly-$org-$week
        if OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO "$okno" report weekly --org "$org" --week "$week" \
            --html "$out.html" --csv "$out.csv" >/dev/null 2>"$out.err"; then
            echo "  org $org, week $week: $out.html (and .csv)"
        else
            echo "  (okno report weekly --org $org failed; see $out.err)"
        fi
    done
}

summary_people() {
    echo "== what the people did, by their own tally (okno demo's totals)"
    python3 - "$OKNO_WORK/demo-totals.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
for action, n in t["actions"].items():
    print(f"  {action:24} {n['posted']:6} posted {n['accepted']:6} accepted {n['refused']:5} refused")
print(f"  answers approved: {t['answered']}; interim {t['interim']}, redirects {t['redirected']}, "
      f"rejected by moderators {t['rejected_by_moderator']}; turned away by the gateway {t['turned_away']}")
EOF
}

summary_audit() {
    echo "== one message's full history, its hash chain verified (okno audit)"
    local id
    id=$(sql "select c.message_id from okno_rm.card c where c.submitted_at >= $since
              and c.outcome = 'answered' order by c.seq desc, c.message_id limit 1")
    [ -n "$id" ] && OKNO_PG_CONNINFO=$OKNO_PG_CONNINFO "$okno" audit "$id"
}

summary() {
    local section
    for section in summary_outcomes summary_on_time summary_signals summary_notifications \
        summary_mails summary_daily_lists summary_weekly_report summary_people summary_audit; do
        echo
        "$section"
    done
}

# ---- --keep: how to log in as each role ------------------------------------------------------
print_logins() {
    local port=$(cat "$OKNO_WORK/run/gateway.http_port") role user org
    echo
    echo "== the cluster keeps running (deploy/local/down stops it). Log in as each role:"
    while IFS='|' read -r role user org; do
        echo "  $role (user $user in org $org):"
        echo "    curl -H \"Authorization: Bearer \$($okno token issue --user $user --key $OKNO_WORK/auth/signing.jwk)\" \\"
        echo "         -H 'X-Okno-Org: $org' http://127.0.0.1:$port/inbox"
    done < <(PGPASSWORD=okno_owner psql -X -q -tA -h 127.0.0.1 -p "$OKNO_PG_PORT" -U okno_owner -d okno -c \
        "select distinct on (r) r, user_id, org_id from okno.grants, unnest(roles) r
         where org_id in (1, 1010, 1011) order by r, user_id")
    echo "  applicant: curl -H \"Authorization: Bearer \$($okno token issue --user 1000000001 --key $OKNO_WORK/auth/signing.jwk)\" http://127.0.0.1:$port/my/messages"
}

demo_up
demo_run
summary
if [ $keep = 1 ]; then
    print_logins
else
    "$OKNO_ROOT/deploy/local/down"
fi
