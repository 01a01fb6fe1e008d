"""deploy/ names only binaries, options, ports and metrics that exist (issue 15): the systemd
units pass systemd-analyze verify and its security audit, the Kubernetes manifests validate
against the Kubernetes schemas, the Prometheus files pass promtool and their rule tests, every
configuration a unit or a manifest gives a service passes that service's --check-config, and
every metric the alerts and the dashboard use is registered by a service."""
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from deploy_files import BUILD, DEPLOY, ROOT, SECRET_ENV, SERVICES, binary, check_config, \
    config_keys, ini, manifests, pending, port_of, prometheus, referenced_metrics, unit, \
    alert_and_dashboard_exprs


def test_every_service_has_a_unit_a_config_and_a_manifest():
    assert sorted(p.name for p in (DEPLOY / "systemd").glob("*.service")) == \
        sorted(f"okno-{s}.service" for s in SERVICES)
    assert sorted(p.stem for p in (DEPLOY / "config").glob("*.ini")) == sorted(SERVICES)
    built = sorted(p.parent.name for p in (BUILD / "services").glob("*/okno-*") if p.is_file())
    assert set(built) <= set(SERVICES), f"a built service has no unit: {set(built) - set(SERVICES)}"
    for s in SERVICES:
        assert pending(s) or binary(s).is_file(), f"okno-{s} is not built"


@pytest.mark.parametrize("name", SERVICES)
def test_unit_runs_its_own_binary_with_its_own_config(name):
    u = unit(name)
    for cmd in u["ExecStart"] + u["ExecStartPre"]:
        argv = cmd.split()
        assert argv[0] == f"/usr/local/bin/okno-{name}"
        assert argv[1:3] == ["--config", f"/etc/okno/{name}.ini"]
        assert set(argv[3:]) <= {"--check-config"}
    r = check_config(name, {}, DEPLOY / "config" / f"{name}.ini")
    assert r.returncode == 0, r.stderr
    if pending(name):  # only the common sections until the service's own keys exist
        assert set(ini(name).sections()) <= {"log", "admin", "pg", "kafka"}


def test_units_pass_systemd_analyze_verify_and_its_security_audit():
    with tempfile.TemporaryDirectory() as tmp:
        for name in SERVICES:
            # The units name the installed path; verify needs an executable there, so the copy
            # names the build tree's binary (for a pending service, /bin/true).
            real = "/bin/true" if pending(name) else str(binary(name))
            text = (DEPLOY / "systemd" / f"okno-{name}.service").read_text()
            path = Path(tmp) / f"okno-{name}.service"
            path.write_text(text.replace(f"/usr/local/bin/okno-{name}", real))
            r = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                               text=True)
            assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
            # Exposure 2.0 or less of 10 ("OK"): own user, read-only system, no privileges, ...
            r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                                str(path)], capture_output=True, text=True)
            assert r.returncode == 0, r.stdout[-400:]


@pytest.mark.parametrize("name", SERVICES)
def test_units_are_hardened(name):
    u = unit(name)
    assert u["DynamicUser"] == ["yes"] and u["User"] == [f"okno-{name}"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("CapabilityBoundingSet", ""),
                       ("RestartPreventExitStatus", "2")):
        assert u[key] == [value], key


def test_admin_ports_are_distinct_and_scraped_where_the_units_listen():
    ports = {s: port_of(ini(s)["admin"]["listen"]) for s in SERVICES}
    assert len(set(ports.values())) == len(SERVICES)
    jobs = {j["job_name"]: j for j in prometheus()["scrape_configs"]}
    assert sorted(jobs) == sorted(f"okno-{s}" for s in SERVICES)
    for s in SERVICES:
        targets = [t for c in jobs[f"okno-{s}"]["static_configs"] for t in c["targets"]]
        assert targets and all(port_of(t) == ports[s] for t in targets), (s, targets)


def test_manifests_validate_against_the_kubernetes_schemas():
    files = sorted(str(p) for p in (DEPLOY / "k8s").glob("*.yaml"))
    r = subprocess.run(["kubernetes-validate", "--strict", "--quiet", *files], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def deployment_env(objects, name):
    """The OKNO_* environment a Deployment's container gets (secrets as placeholders)."""
    c = objects[("Deployment", f"okno-{name}")]["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for source in c["envFrom"]:
        env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for e in c["env"]:
        ref = e["valueFrom"]["secretKeyRef"]
        assert ref["key"] in objects[("Secret", ref["name"])]["stringData"], ref
        env[e["name"]] = SECRET_ENV[e["name"]]
    return c, env


@pytest.mark.parametrize("name", SERVICES)
def test_deployment_names_its_binary_its_keys_its_port_and_its_probes(name):
    objects = manifests()
    c, env = deployment_env(objects, name)
    assert c["command"] == [f"/usr/local/bin/okno-{name}"]
    r = check_config(name, env)
    assert r.returncode == 0, r.stderr
    own = {k for k in env if not k.startswith(("OKNO_LOG__", "OKNO_ADMIN__", "OKNO_PG__",
                                               "OKNO_KAFKA__"))}
    if pending(name):
        assert own == set()
    else:  # every own variable is a declared key (check-config ignores a foreign section)
        keys = config_keys(name)
        for var in own:
            key = var[len("OKNO_"):].lower().replace("__", ".")
            assert key in keys, f"{var}: okno-{name} has no key {key}"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["admin"] == port_of(env["OKNO_ADMIN__LISTEN"])
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["resources"]["requests"] and c["resources"]["limits"]
    template = objects[("Deployment", f"okno-{name}")]["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ports["admin"])
    mounts = {m["name"] for m in c["volumeMounts"]}
    assert mounts == {v["name"] for v in template["spec"]["volumes"]}
    labels = template["metadata"]["labels"]
    for kind in ("PodDisruptionBudget", "Service"):
        for (k, n), obj in objects.items():
            if k == kind and n.startswith(f"okno-{name}"):
                sel = obj["spec"]["selector"]
                sel = sel.get("matchLabels", sel)
                assert sel.items() <= labels.items(), (kind, n)
    admin = objects[("Service", f"okno-{name}-admin")]["spec"]
    assert admin["clusterIP"] == "None" and admin["ports"][0]["targetPort"] == "admin"
    assert ("PodDisruptionBudget", f"okno-{name}") in objects


def test_kubernetes_scrape_config_finds_every_admin_service():
    objects = manifests()
    jobs = {j["job_name"]: j for j in prometheus("prometheus-k8s.yml")["scrape_configs"]}
    assert sorted(jobs) == sorted(f"okno-{s}" for s in SERVICES)
    for s in SERVICES:
        sd = jobs[f"okno-{s}"]["dns_sd_configs"][0]
        assert sd["names"] == [f"okno-{s}-admin.okno.svc.cluster.local"]
        assert sd["port"] == objects[("Service", f"okno-{s}-admin")]["spec"]["ports"][0]["port"]


def test_prometheus_files_pass_promtool_and_the_alert_tests():
    d = DEPLOY / "prometheus"
    for args in (["check", "config", "prometheus.yml"], ["check", "config", "prometheus-k8s.yml"],
                 ["check", "rules", "okno-rules.yml"], ["test", "rules", "okno-rules.test.yml"]):
        r = subprocess.run(["promtool", *args], cwd=d, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def registered_metrics():
    """Names the code registers (okno_metrics_*_init calls and the runtime's own)."""
    names = set()
    for path in list((ROOT / "services").rglob("*.c")) + list((ROOT / "common").rglob("*.c")):
        text = path.read_text(errors="replace")
        names |= set(re.findall(r'okno_metrics_(?:counter|gauge|histogram)_init\(\s*[^,]+,\s*'
                                r'[^,]+,\s*"(okno_[a-z0-9_]+)"', text))
        names |= set(re.findall(r'"(okno_service_[a-z_]+)"', text))
        # Table-driven registration: {&metrics.field, "okno_name", "help"} rows of a table that
        # okno_metrics_counters_init registers.
        if re.search(r'okno_metrics_counters_init\(', text):
            names |= set(re.findall(r'\{\s*&[a-z_.>-]+,\s*"(okno_[a-z0-9_]+)"', text))
    return names


def test_alerts_and_dashboard_use_only_registered_metrics():
    exprs, records = alert_and_dashboard_exprs()
    missing = referenced_metrics() - registered_metrics()
    assert not missing, f"no service registers {sorted(missing)}"
    for e in exprs:  # recording rules the dashboard reads are defined
        assert set(re.findall(r"\bokno:[a-z0-9_:]+", e)) <= records, e
    assert shutil.which("promtool")
