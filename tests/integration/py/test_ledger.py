"""The ledger end to end on the real Kafka broker and PostgreSQL (issue 4): requests produced to
Kafka become events in the event log exactly once, whatever crashes; refusals reach
okno.rejections.v1; a consumer in another language decodes every event with only the .avsc
files."""
import json
import os
import signal
import subprocess
import time
import uuid

from harness import OKNO, Scratch, decode, okno, read_topic, schemas_by_fingerprint, wait_until


def uuid_text(raw):
    """The schemas carry ids as 16 raw bytes (fixed); None for an unknown id."""
    return str(uuid.UUID(bytes=raw)) if raw else None

# About 100,000 requests: a message life is ~7.7 requests with the load's default mix.
MESSAGES = int(os.environ.get("OKNO_E2E_MESSAGES", "13000"))
# Records a second while the ledger is being killed: the load lasts about 12 s.
RATE = 8000


def caught_up(s, group, records):
    return s.consumed(group) == records


def check_log_matches(s, expect):
    """The event log holds exactly what the core predicted, without gaps or duplicates."""
    assert s.scalar("select count(*) from okno.event_log") == expect["expected_events"]
    assert s.scalar("select count(*) from okno.requests where accepted") == expect["expected_accepted"]
    refused = expect["expected_refused"] + expect["malformed"]
    assert s.scalar("select count(*) from okno.requests where not accepted") == refused
    assert s.scalar("select count(*) from okno.refusals") == refused
    assert s.scalar("select count(*) from okno.refusals where reason_code = 'malformed_record'") \
        == expect["malformed"]
    gaps = s.scalar("select count(*) from (select message_id from okno.event_log group by 1 "
                    "having max(seq) <> count(*) or min(seq) <> 1) g")
    assert gaps == 0
    okno("verify", "--pg", s.admin_conninfo)


def log_digest(s):
    """What happened, independent of when: (message, seq, type, request) for every event."""
    return s.sql("select md5(string_agg(message_id::text || seq || event_type || request_id::text, "
                 "',' order by message_id, seq)) from okno.event_log")[0][0]


def test_ledger_appends_100k_mixed_requests_exactly_once(scratch):
    s = scratch
    group = s.start_ledger_and_relay()
    expect = s.load("--messages", str(MESSAGES), "--seed", "4242")
    assert expect["requests"] >= MESSAGES * 7
    wait_until("the ledger to consume every record", lambda: caught_up(s, group, expect["records"]))
    check_log_matches(s, expect)

    # Every refusal reaches okno.rejections.v1 with its reason, once.
    refusals = dict(s.sql("select request_id, reason_code from okno.refusals"))
    # A malformed record has no request id of its own; its refusal is found by where it lay.
    by_source = {(int(p), int(o)): r for r, p, o in s.sql(
        "select request_id, source_partition, source_offset from okno.refusals "
        "where reason_code = 'malformed_record'")}
    schemas = schemas_by_fingerprint()
    published = {}
    for m in read_topic(s.bootstrap, s.topics["rejections"], len(refusals)):
        name, rec = decode(m.value(), schemas)
        assert name == "Rejection"
        key = uuid_text(rec["request_id"]) or by_source[(rec["source_partition"],
                                                        rec["source_offset"])]
        assert key not in published, "a refusal was published twice"
        published[key] = rec["reason_code"]
    assert published == refusals


def test_analytics_consumer_decodes_every_event_with_only_the_schemas(scratch):
    s = scratch
    group = s.start_ledger_and_relay()
    expect = s.load("--messages", "500", "--seed", "7")
    wait_until("the ledger to consume every record", lambda: caught_up(s, group, expect["records"]))
    events = s.scalar("select count(*) from okno.event_log")
    schemas = schemas_by_fingerprint()
    seen = set()
    for m in read_topic(s.bootstrap, s.topics["events"], events):
        name, ev = decode(m.value(), schemas)
        assert name == "Event"
        assert m.key().decode() == uuid_text(ev["message_id"])
        seen.add((ev["message_id"], ev["seq"]))
    assert len(seen) == events == expect["expected_events"]


def test_ledger_survives_sigkill_ten_times_with_identical_result(scratch):
    s = scratch
    group = f"ledger-{s.tag}"
    ledger = s.start_ledger(group, instance="ledger-1")
    # The reference: the same seed without crashes, in a scratch of its own.
    reference = Scratch("reference")
    try:
        reference.start_ledger(f"ledger-{reference.tag}")
        ref_expect = reference.load("--messages", str(MESSAGES), "--seed", "99")
        wait_until("the reference run", lambda: caught_up(reference, f"ledger-{reference.tag}",
                                                          ref_expect["records"]))
        ref_digest = log_digest(reference)
    finally:
        reference.close()

    loader = subprocess.Popen([str(OKNO), "load", "--bootstrap", s.bootstrap, "--pg", s.app_conninfo,
                               "--topic", s.topics["transitions"], "--messages", str(MESSAGES),
                               "--seed", "99", "--rate", str(RATE)], stdout=subprocess.PIPE,
                              text=True)
    # Ten kills spread over the load's run, each followed by an immediate restart.
    pause_s = MESSAGES * 7.7 / RATE / 11
    for _ in range(10):
        time.sleep(pause_s)
        ledger.send_signal(signal.SIGKILL)
        ledger.wait()
        ledger = s.start_ledger(group, instance="ledger-1")
    out, _ = loader.communicate(timeout=300)
    assert loader.returncode == 0
    expect = json.loads(out.strip().splitlines()[-1])
    assert expect == {**expect, **{k: ref_expect[k] for k in ("expected_events", "expected_accepted", "expected_refused", "malformed", "records")}}
    wait_until("the ledger to catch up after the crashes", lambda: caught_up(s, group, expect["records"]))
    check_log_matches(s, expect)
    assert log_digest(s) == ref_digest


def test_two_ledgers_that_both_own_every_partition_append_once(scratch):
    s = scratch
    # Two consumer groups: each instance is assigned every partition and decides every record.
    a, b = f"ledger-a-{s.tag}", f"ledger-b-{s.tag}"
    s.start_ledger(a)
    s.start_ledger(b)
    expect = s.load("--messages", "3000", "--seed", "5")
    wait_until("both ledgers to consume every record",
               lambda: caught_up(s, a, expect["records"]) and caught_up(s, b, expect["records"]))
    check_log_matches(s, expect)


REQUESTS_STATS = ("from pg_stat_user_tables where schemaname = 'okno' "
                  "and relname like 'requests_p%'")


def requests_scans(s, kind):
    """seq_scan or idx_scan summed over okno.requests' partitions, as the sessions reported."""
    return s.scalar(f"select coalesce(sum({kind}), 0) {REQUESTS_STATS}")


def ledger_counter(ledger, name):
    """A counter of the ledger's /metrics."""
    import re
    import urllib.request
    url = f"http://127.0.0.1:{ledger.admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        return float(re.search(rf"^{name} (\S+)$", r.read().decode(), re.M).group(1))


def stop_for_statistics(s, ledger, reported):
    """Stops the ledger: its backend reports its table statistics when its session ends."""
    ledger.send_signal(signal.SIGTERM)
    ledger.wait(20)
    wait_until("the ledger's table statistics", reported)


def test_request_id_lookup_probes_the_index_after_starting_on_an_empty_log(scratch):
    """The ledger prepares its request-id lookup when it connects, here to an empty log, and an
    append refused for a logged request id asks which ids those are (find_known). As the log
    grows under them, every read of a request id must stay one index probe per id: a plan made
    for the empty tables that scans every partition of okno.requests would cost a batch time in
    proportion to the whole log. Repeats in the load, and the whole load sent again (the same
    seed: the same request ids, in later batches than their originals), make both run."""
    s = scratch
    group = f"ledger-{s.tag}"
    # Sessions report their statistics when they end: the migrations' scans are in by now.
    scans_before = requests_scans(s, "seq_scan")
    ledger = s.start_ledger(group)
    load = ("--messages", "3000", "--seed", "17", "--repeat-permille", "50",
            "--malformed-permille", "0")
    expect = s.load(*load)
    wait_until("the ledger to consume every record", lambda: caught_up(s, group, expect["records"]))
    again = s.load(*load)
    wait_until("the ledger to consume the load sent again",
               lambda: caught_up(s, group, expect["records"] + again["records"]))
    assert ledger_counter(ledger, "okno_ledger_append_repeats_total") >= 1, "find_known ran"
    assert ledger_counter(ledger, "okno_ledger_lookups_total") >= 1, "the look-up ran"
    assert ledger_counter(ledger, "okno_ledger_requests_repeated_total") \
        == expect["repeats"] + again["records"]
    stop_for_statistics(s, ledger, lambda: requests_scans(s, "idx_scan") > 0)
    assert requests_scans(s, "seq_scan") == scans_before
    check_log_matches(s, expect)  # (its counts scan the tables: after the statistics are read)


def test_a_ledger_without_repeats_never_looks_request_ids_up(scratch):
    """Fresh requests are not repeats: with none in the load, no batch reads okno.requests
    before appending (no look-up statement at all; the append's unique request ids would find
    a repeat), and every request is logged once."""
    s = scratch
    group = f"ledger-{s.tag}"
    scans_before = requests_scans(s, "seq_scan") + requests_scans(s, "idx_scan")
    ledger = s.start_ledger(group)
    expect = s.load("--messages", "1000", "--seed", "19", "--repeat-permille", "0")
    wait_until("the ledger to consume every record", lambda: caught_up(s, group, expect["records"]))
    assert ledger_counter(ledger, "okno_ledger_lookups_total") == 0
    assert ledger_counter(ledger, "okno_ledger_append_repeats_total") == 0
    assert ledger_counter(ledger, "okno_ledger_requests_repeated_total") == 0
    logged = expect["expected_accepted"] + expect["expected_refused"] + expect["malformed"]
    stop_for_statistics(s, ledger, lambda: s.scalar(
        f"select coalesce(sum(n_tup_ins), 0) {REQUESTS_STATS}") >= logged)
    assert requests_scans(s, "seq_scan") + requests_scans(s, "idx_scan") == scans_before
    check_log_matches(s, expect)


def test_repeats_after_a_long_quiet_stretch_are_found_by_the_append_alone(scratch):
    """Repeats turn the look-up on for 64 batches; a long stretch without any turns it off, and
    repeats arriving after it are found by the append (its unique request ids): the batch is
    decided again without them, each is acknowledged once and nothing is appended twice."""
    s = scratch
    group = f"ledger-{s.tag}"
    ledger = s.start_ledger(group)
    noisy_load = ("--messages", "100", "--seed", "29", "--repeat-permille", "200",
                  "--malformed-permille", "0")
    noisy = s.load(*noisy_load)
    wait_until("the ledger to consume the load", lambda: caught_up(s, group, noisy["records"]))
    resent = s.load(*noisy_load)  # its request ids again, in later batches: repeats
    wait_until("the ledger to consume the load sent again",
               lambda: caught_up(s, group, noisy["records"] + resent["records"]))
    assert ledger_counter(ledger, "okno_ledger_append_repeats_total") >= 1
    batches = ledger_counter(ledger, "okno_ledger_batches_total")
    lookups = ledger_counter(ledger, "okno_ledger_lookups_total")
    quiet_load = ("--messages", "300", "--seed", "31", "--repeat-permille", "0",
                  "--malformed-permille", "0")
    quiet = s.load(*quiet_load, "--rate", "300")  # many small batches
    records = noisy["records"] + resent["records"] + quiet["records"]
    wait_until("the ledger to consume the quiet load", lambda: caught_up(s, group, records))
    assert ledger_counter(ledger, "okno_ledger_batches_total") - batches > 64, \
        "the quiet load should have come in more batches than the look-up window"
    looked_up = ledger_counter(ledger, "okno_ledger_lookups_total") - lookups
    assert 1 <= looked_up <= 64, "the look-up ran after the repeats, for 64 batches at most"
    lookups += looked_up
    refused_appends = ledger_counter(ledger, "okno_ledger_append_repeats_total")
    again = s.load(*quiet_load)  # the same seed: every request id of the quiet load again
    wait_until("the ledger to consume the repeats",
               lambda: caught_up(s, group, records + again["records"]))
    assert ledger_counter(ledger, "okno_ledger_append_repeats_total") > refused_appends, \
        "the first repeats were found by the append"
    assert ledger_counter(ledger, "okno_ledger_lookups_total") > lookups, "and turned look-ups on"
    assert ledger_counter(ledger, "okno_ledger_requests_repeated_total") \
        == noisy["repeats"] + resent["records"] + again["records"]
    both = {k: noisy[k] + quiet[k] for k in ("expected_events", "expected_accepted",
                                             "expected_refused", "malformed")}
    check_log_matches(s, both)


def test_a_request_under_light_load_does_not_wait_for_a_batch_to_fill(scratch):
    """At 200 records a second the ledger decides what has arrived at once: most batches go
    from their first record to their processing within a millisecond (with a linger of a few
    ms, none would)."""
    import re
    import urllib.request
    s = scratch
    group = f"ledger-{s.tag}"
    ledger = s.start_ledger(group)

    def metrics():
        url = f"http://127.0.0.1:{ledger.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def counter(text, name):
        return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))

    def consumed():
        assert ledger.poll() is None, f"the ledger exited with {ledger.returncode}"
        return caught_up(s, group, expect["records"])
    expect = s.load("--messages", "50", "--seed", "23", "--rate", "200")
    try:
        wait_until("the ledger to consume every record", consumed)
    except AssertionError:
        text = metrics()
        raise AssertionError(
            f"the ledger took {counter(text, 'okno_ledger_records_total'):.0f} of "
            f"{expect['records']} records in {counter(text, 'okno_ledger_batches_total'):.0f} "
            f"batches; {s.consumed(group)} committed") from None
    text = metrics()
    within_1ms = float(re.search(r'^okno_ledger_batch_fill_ms_bucket\{le="1"\} (\S+)$', text,
                                 re.M).group(1))
    batches = float(re.search(r"^okno_ledger_batch_fill_ms_count (\S+)$", text, re.M).group(1))
    assert batches >= 20, "the paced load should have come in many small batches"
    assert within_1ms >= batches / 2, f"{within_1ms:.0f} of {batches:.0f} batches filled in 1 ms"
    check_log_matches(s, expect)


def test_load_warmup_starts_the_window_after_the_producer_is_up(scratch):
    """`okno load --warmup 1` (the latency benchmark's paced load) produces at the rate for a
    second, and until Kafka acknowledged a record, before it says the window begins; the
    records after that moment are the window's, the ones before it the warm-up's."""
    s = scratch
    proc = subprocess.run([str(OKNO), "load", "--bootstrap", s.bootstrap, "--pg", s.app_conninfo,
                           "--topic", s.topics["transitions"], "--messages", "400", "--seed", "5",
                           "--rate", "1000", "--warmup", "1"],
                          capture_output=True, text=True, check=True)
    lines = [json.loads(x) for x in proc.stdout.strip().splitlines()]
    assert len(lines) == 2, proc.stdout
    window, summary = lines
    assert window["window_start_ms"] == summary["window_start_ms"]
    assert 0 < window["warmup_records"] == summary["warmup_records"] < summary["records"]
    records = read_topic(s.bootstrap, s.topics["transitions"], summary["records"])
    assert len(records) == summary["records"]
    stamps = sorted(m.timestamp()[1] for m in records)
    # The warm-up's clock starts just before the first record is produced, and Kafka's
    # timestamp is taken when it is (CI saw 999 ms): a few milliseconds of slack, no more.
    assert window["window_start_ms"] - stamps[0] >= 1000 - 10, "the warm-up lasts the second asked"
    in_window = sum(1 for t in stamps if t >= window["window_start_ms"])
    assert in_window == summary["records"] - summary["warmup_records"]


def test_load_warmup_longer_than_the_load_is_an_error(scratch):
    """A warm-up that outlasts every record leaves no window: an error, not a silent figure."""
    s = scratch
    proc = subprocess.run([str(OKNO), "load", "--bootstrap", s.bootstrap, "--pg", s.app_conninfo,
                           "--topic", s.topics["transitions"], "--messages", "5", "--seed", "5",
                           "--rate", "100", "--warmup", "60"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "within the warm-up" in proc.stderr
