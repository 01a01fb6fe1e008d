"""Debian's real Prometheus against okno's running services (issue 15), on the integration
fixture's cluster: deploy/prometheus/prometheus.yml with its targets pointed at the services this
test starts, and okno-rules.yml. Every job is scraped, one metric of each service carries what
the workload did, every alert and recording rule evaluates without error, and every okno_*
metric the alerts and the dashboard use is one the services' /metrics really serve."""
import json
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from deploy_files import DEPLOY, pending, referenced_metrics, served_metric_names
from harness import Scratch, free_port, okno, wait_until

STARTED = ("ledger", "relay", "projector", "timer", "gateway", "notifier")


@pytest.fixture(scope="module")
def services():
    s = Scratch("prometheus")
    keys = Path(tempfile.mkdtemp(prefix="okno-prom-keys-"))
    try:
        procs = {"ledger": s.start_ledger(), "relay": s.start_relay(),
                 "projector": s.start("projector"),
                 "timer": s.start("timer", **{"timer.group_id": f"timer-{s.tag}",
                                              "timer.events_topic": s.topics["events"],
                                              "timer.sla_topic": s.topics["sla"]})}
        procs["gateway"] = start_gateway(s, keys)
        # Notifications recorded and published; no mail relay here (mail.enabled false).
        procs["notifier"] = s.start("notifier", **{"notifier.topic": s.topics["events"] + ".notes",
                                                   "mail.enabled": "false", "log.level": "warn"})
        expect = s.load("--messages", "200", "--seed", "21")
        # One request without a token: the gateway's 401 counter shows it.
        api = f"http://127.0.0.1:{procs['gateway'].api_port}/my/messages"
        try:
            urllib.request.urlopen(api, timeout=5)
        except urllib.error.HTTPError as e:
            assert e.code == 401
        yield s, procs, expect
    finally:
        s.close()
        shutil.rmtree(keys, ignore_errors=True)


def start_gateway(s, keys):
    okno("token", "keygen", "--dir", str(keys))
    port = free_port()
    read = s.app_conninfo.replace("user=okno_app", "user=okno_gateway") \
        .replace("password=okno_app", "password=okno_gateway")
    proc = s.start("gateway", **{"gateway.listen": f"127.0.0.1:{port}",
                                 "gateway.transitions_topic": s.topics["transitions"],
                                 "gateway.read_conninfo": read,
                                 "auth.jwks_file": str(keys / "jwks.json"),
                                 "log.level": "warn"})
    proc.api_port = port
    return proc


@pytest.fixture(scope="module")
def prom(services):
    _, procs, _ = services
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DEPLOY / "prometheus" / "okno-rules.yml")]
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"].removeprefix("okno-")
        if name in procs:  # the repo's job, aimed at the service this test started
            job["static_configs"] = [{"targets": [f"127.0.0.1:{procs[name].admin_port}"]}]
            jobs.append(job)
        else:
            assert pending(name), f"okno-{name} is built but this test does not start it"
    config["scrape_configs"] = jobs
    tmp = Path(tempfile.mkdtemp(prefix="okno-prometheus-"))
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp / "prometheus.log", "wb")
    proc = subprocess.Popen(["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'data'}", "--log.level=warn",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until("Prometheus to be ready", lambda: get(url + "/-/ready") is not None
                   or proc.poll() is not None)
        assert proc.poll() is None, (tmp / "prometheus.log").read_text()
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return None


def query(url, expr):
    """An instant query's samples as {job: value}."""
    body = get(url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    result = json.loads(body)["data"]["result"] if body else []
    return {r["metric"].get("job", ""): float(r["value"][1]) for r in result}


def test_prometheus_scrapes_every_service_with_the_repos_config(prom):
    for name in STARTED:
        wait_until(f"okno-{name} scraped", lambda: query(prom, f'up{{job="okno-{name}"}}')
                   .get(f"okno-{name}") == 1)
        wait_until(f"okno-{name} ready", lambda: query(prom, "okno_service_ready")
                   .get(f"okno-{name}") == 1)


def test_one_metric_of_each_service_shows_the_workload(prom, services):
    s, _, expect = services
    records = expect["records"]
    wait_until("the ledger's records counter to reach the load", lambda: query(
        prom, "sum by (job) (okno_ledger_records_total)").get("okno-ledger") == records)
    wait_until("the relay to publish", lambda: query(
        prom, "sum by (job) (okno_relay_records_total)").get("okno-relay", 0) > 0)
    wait_until("the projector to apply events", lambda: query(
        prom, "sum by (job) (okno_projector_events_applied_total)").get("okno-projector", 0) > 0)
    wait_until("the timer to track open messages", lambda: query(
        prom, "sum by (job) (okno_timer_records_total)").get("okno-timer", 0) > 0)
    assert "okno-timer" in query(prom, "okno_timer_messages")
    wait_until("the notifier to read the log", lambda: query(
        prom, "sum by (job) (okno_notifier_events_read_total)").get("okno-notifier", 0) > 0)
    wait_until("the gateway to count the request without a token", lambda: query(
        prom, "sum by (job) (okno_gateway_auth_refused_total)").get("okno-gateway", 0) >= 1)


def test_every_rule_evaluates_on_the_live_metrics(prom):
    def rules():
        body = get(prom + "/api/v1/rules")
        groups = json.loads(body)["data"]["groups"] if body else []
        return [r for g in groups for r in g["rules"]]
    wait_until("every rule evaluated", lambda: rules() and all(
        not r["lastEvaluation"].startswith("0001") for r in rules()))
    bad = [(r["name"], r.get("lastError")) for r in rules() if r["health"] != "ok"]
    assert not bad
    loaded = yaml.safe_load((DEPLOY / "prometheus" / "okno-rules.yml").read_text())
    assert len(rules()) == sum(len(g["rules"]) for g in loaded["groups"])


def test_alerts_and_dashboard_use_only_metrics_the_services_serve(services):
    _, procs, _ = services
    served = set()
    for proc in procs.values():
        served |= served_metric_names(get(f"http://127.0.0.1:{proc.admin_port}/metrics"))
    missing = referenced_metrics() - served
    assert not missing, f"not served by any running service: {sorted(missing)}"
