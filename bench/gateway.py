"""bench/run gateway: okno-gateway on loopback with wrk, against a real ledger, projector, Kafka
and PostgreSQL (deploy/local).

1. ceiling_reads_per_s: bench_http_ceiling (common/http, one trivial handler) under wrk: what
   h2o on this machine allows, so the gateway's figures read as a share of it.
2. reads_per_s, read_p99_ms: GET /messages/{id} (card, under RLS) by a coordinator, over a set
   of accepted messages.
3. writes_per_s, write_p99_ms: POST /messages/{id}/actions/take_over through to Kafka (a 202
   means Kafka acknowledged it with acks=all); the ledger refuses all but the first per message,
   which costs the gateway the same.
4. decide_p99_ms: actions offered open-loop at 2,000/s (bench_http_pace, libcurl multi: each
   request is due at a fixed time whatever the earlier ones did); the time from a request's due
   time to the ledger's commit of its decision (okno.requests.at). decide_rate_per_s is the
   rate of 202s the client reached, beside decide_rate_target_per_s; decide_post_p99_ms the
   POSTs' own p99 from their due times. It starts once the ledger has decided the write phase's
   backlog; a first second (full: two) at the same rate opens the connections and is left out.

Before 3 the broker is warmed with the loads of 3 and 4 themselves (bench/warm.py): rounds of
writes then paced actions until the broker's JIT compilers use less than 0.03 of a core over a
round (at most 150 s, full: 300), so
the figures are a warm broker's, as in production; broker_warmup_s says how long that took, and
broker_jit_cores_writes / _decide the compilers' share during 3 and 4.

The last line is one JSON object (with the load average)."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "py"))
from gateway_harness import Gateway  # noqa: E402
from harness import BUILD, wait_until  # noqa: E402
from warm import JitMeter, warm  # noqa: E402

COORD, MODERATOR = (101001, 1010), (101, 1)
LUA = """
ids = {%s}
i = 0
request = function()
  i = i + 1
  return wrk.format("%s", "/messages/" .. ids[(i %% #ids) + 1] .. "%s", nil, %s)
end
"""


def wrk(url, seconds, conns, script=None, headers=()):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0


def script(ids, method, suffix, body):
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    f.write(LUA % (", ".join(f'"{i}"' for i in ids), method, suffix,
                   "nil" if body is None else json.dumps(json.dumps(body))))
    f.close()
    return f.name


def prepare(gw, count):
    ids = []
    for _ in range(count):
        m = gw.submit()
        gw.act(m, "accept", *MODERATOR, {"target_org_id": 1010})
        ids.append(m)
    return ids


def ceiling(seconds, conns):
    proc = subprocess.Popen([str(BUILD / "bench" / "bench_http_ceiling"), "0"],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    try:
        return wrk(f"http://127.0.0.1:{port}/ping", seconds, conns)[0]
    finally:
        proc.terminate()
        proc.wait(10)


WRITE_CONNS = 256
WARMUP_ROUND_S = 6  # s: 3 of writes, 3 of paced actions


def pace(gw, ids, rate, seconds, token, warmup_s, out):
    """bench_http_pace: take_over actions open-loop at `rate` (request k is due at k / rate,
    whatever the ones before it did), each one's due time, latency, status and request id into
    the file `out`. Returns the client's summary."""
    cmd = [str(BUILD / "bench" / "bench_http_pace"), "--base", f"http://127.0.0.1:{gw.port}",
           "--rate", str(rate), "--seconds", str(seconds), "--warmup", str(warmup_s), "--out", out,
           "--connections", "512",
           "--header", f"Authorization: Bearer {token}", "--header", f"X-Okno-Org: {COORD[1]}",
           "--header", "Content-Type: application/json"]
    cmd += [f"/messages/{i}/actions/take_over" for i in ids]
    run = subprocess.run(cmd, capture_output=True, text=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def decide(gw, ids, rate, seconds, token, warmup_s):
    """Open-loop actions at a fixed rate (pace); per action, from its due time to the ledger's
    commit of its decision (okno.requests.at). Returns the client's summary with decide_p99_ms
    added."""
    out = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
    summary = pace(gw, ids, rate, seconds, token, warmup_s, out)
    due = {}
    with open(out) as f:
        for line in f:
            at, _ms, status, rid = line.split()
            if status == "202":
                due[rid] = float(at)
    os.unlink(out)
    # By the bench's messages since the first due time (a short query), then the paced requests
    # among them.
    mids = "{" + ",".join(ids) + "}"
    since = min(due.values(), default=0) - 1
    def decided():
        rows = gw.s.sql(f"select request_id, extract(epoch from at) from okno.requests "
                        f"where message_id = any('{mids}'::uuid[]) and at >= to_timestamp({since})")
        at = {rid: float(t) for rid, t in rows if rid in due}
        return at if len(at) == len(due) else None
    at = wait_until("every paced request decided", decided) if due else {}
    lat = sorted((at[rid] - due[rid]) * 1000 for rid in due)
    summary["decide_p99_ms"] = lat[int(0.99 * (len(lat) - 1))] if lat else None
    return summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    seconds, conns = (3, 32) if a.quick else (20, 128)
    rate, decide_s, warmup_s = (2000, 3, 1) if a.quick else (2000, 15, 2)
    warmup_max_s = 150 if a.quick else 300
    gw = Gateway("bench_gateway", **{"gateway.workers": 32, "gateway.in_flight_max": 4096})
    try:
        ids = prepare(gw, 10 if a.quick else 100)
        gw.projected(ids[-1], *COORD)
        token = gw.token(COORD[0])
        auth = [f"Authorization: Bearer {token}", f"X-Okno-Org: {COORD[1]}"]
        ceiling_rps = ceiling(seconds, conns)
        print(f"ceiling: {ceiling_rps:.0f} req/s", file=sys.stderr)
        reads = wrk(f"http://127.0.0.1:{gw.port}", seconds, conns,
                    script(ids, "GET", "", None), auth)
        print(f"reads: {reads}", file=sys.stderr)
        # A write's 202 waits for Kafka's acks=all acknowledgement (linger 5 ms) and the batch's
        # PostgreSQL round trip, about 20 ms, so a closed-loop client at the reads' connection
        # count measures that latency, not the gateway's capacity: writes get WRITE_CONNS.
        write_lua = script(ids, "POST", "/actions/take_over", {})

        def write_load(secs):
            return wrk(f"http://127.0.0.1:{gw.port}", secs, WRITE_CONNS, write_lua,
                       auth + ["Content-Type: application/json"])
        def both_loads(secs):  # the broker compiles the paced phase's small requests too
            write_load(secs // 2)  # wrk takes whole seconds
            pace(gw, ids, rate, secs - secs // 2, token, 0, os.devnull)
        warmed = warm(both_loads, WARMUP_ROUND_S, warmup_max_s,
                      lambda line: print(line, file=sys.stderr))
        jit = JitMeter()
        writes = write_load(seconds)
        jit_writes = jit.cores()
        print(f"writes: {writes}, the broker's JIT {jit_writes} cores", file=sys.stderr)
        # The ledger first decides the write phase's backlog, so the paced actions meet a
        # steady system rather than its catch-up.
        produced = gw.produced()
        wait_until("the write phase decided", lambda: gw.s.scalar(
            "select count(*) from okno.requests") >= produced, timeout_s=600)
        jit.start()
        paced = decide(gw, ids, rate, decide_s, token, warmup_s)
        jit_decide = jit.cores()
        print(f"decide: {paced}, the broker's JIT {jit_decide} cores", file=sys.stderr)
    finally:
        gw.close()
    result = {
        "bench": "gateway", "quick": a.quick,
        "ceiling_reads_per_s": round(ceiling_rps),
        "reads_per_s": round(reads[0]), "read_p99_ms": round(reads[1], 2),
        "read_errors": reads[2],
        "writes_per_s": round(writes[0]), "write_p99_ms": round(writes[1], 2),
        "write_errors": writes[2], "write_connections": WRITE_CONNS,
        "decide_p99_ms": paced["decide_p99_ms"] and round(paced["decide_p99_ms"], 1),
        "decide_rate_target_per_s": rate, "decide_rate_per_s": round(paced["rate_ok_per_s"]),
        "decide_post_p99_ms": round(paced["p99_ms"], 2), "decide_errors": paced["failed"],
        "broker_warmup_s": warmed["broker_warmup_s"],
        "broker_warmup_rounds": warmed["broker_warmup_rounds"],
        "broker_jit_cores_writes": jit_writes, "broker_jit_cores_decide": jit_decide,
        "loadavg": os.getloadavg()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
