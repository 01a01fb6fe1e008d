"""What deploy/ declares, read back: the services its systemd units, INI files, Kubernetes
manifests and Prometheus files name, with their binaries, config keys, ports and metrics.
Shared by test_deploy_files.py (offline) and test_prometheus.py (against running services)."""
import configparser
import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(os.environ.get("OKNO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("OKNO_BUILD_DIR", ROOT / "build"))
DEPLOY = ROOT / "deploy"
SERVICES = ("ledger", "relay", "projector", "timer", "gateway", "notifier")
# Values for the secrets that deployments pass by environment, so --check-config can run.
SECRET_ENV = {"OKNO_PG__PASSWORD": "x", "OKNO_KAFKA__SASL__USERNAME": "u",
              "OKNO_KAFKA__SASL__PASSWORD": "p"}


def binary(name):
    return BUILD / "services" / name / f"okno-{name}"


def pending(name):
    """A service deploy/ already describes whose code is not in this tree yet (issues 10, 11)."""
    return not (ROOT / "services" / name).is_dir()


def check_binary(name):
    """The binary that checks name's configuration: its own, or for a pending service a built
    one that shares every common section (log, admin, pg, kafka) and owns no other."""
    return binary("relay") if pending(name) else binary(name)


def check_config(name, env, config_file=None):
    """Runs okno-NAME --check-config with env (plus the secrets) and no other OKNO_* variable."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    clean.update(SECRET_ENV)
    clean.update(env)
    args = [str(check_binary(name)), "--check-config"]
    if config_file:
        args += ["--config", str(config_file)]
    return subprocess.run(args, env=clean, capture_output=True, text=True)


def config_keys(name):
    """The keys okno-NAME declares, from its --help."""
    out = subprocess.run([str(binary(name)), "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"^  ([a-z0-9_.]+) \(", out, re.M))


def unit(name):
    """deploy/systemd/okno-NAME.service as {key: [values]} over all sections."""
    found = {}
    for line in (DEPLOY / "systemd" / f"okno-{name}.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def ini(name):
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    parser.read(DEPLOY / "config" / f"{name}.ini")
    return parser


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def manifests():
    """Every object of deploy/k8s, by (kind, name)."""
    objects = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def prometheus(file="prometheus.yml"):
    return yaml.safe_load((DEPLOY / "prometheus" / file).read_text())


def alert_and_dashboard_exprs():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "okno-rules.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    records = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    dashboard = yaml.safe_load((DEPLOY / "grafana" / "okno.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return exprs, records


def referenced_metrics():
    """okno_* series names the alerts and the dashboard use, histograms by their base name."""
    exprs, _ = alert_and_dashboard_exprs()
    names = set()
    for e in exprs:
        for m in re.findall(r"\bokno_[a-z0-9_]+", e):
            names.add(re.sub(r"_(bucket|sum|count)$", "", m))
    return names


def served_metric_names(text):
    """Metric names in a Prometheus text exposition (its # TYPE lines)."""
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))
