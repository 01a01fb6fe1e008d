"""Helpers for the gateway's integration tests: a scratch database and topics (harness.Scratch)
with a ledger, a projector and a real okno-gateway process, tokens signed by `okno token`, and a
small HTTP client that can also send raw bytes."""
import http.client
import json
import os
import socket
import tempfile
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from harness import BUILD, Scratch, free_port, okno, wait_until


class Gateway:
    """A scratch cluster with the gateway in front of it."""

    def __init__(self, name, scratch=None, port=None, keys=None, **settings):
        """With `scratch`, the gateway alone in front of a test's own scratch (its read models
        already built), which the test closes. port and keys: an earlier gateway's, to start
        it again where its clients know it, their tokens still valid."""
        self.owned = scratch is None
        self.s = scratch or Scratch(name)
        self.keys = keys
        if keys is None:
            self.keys = Path(tempfile.mkdtemp(prefix="okno-gw-keys-"))
            okno("token", "keygen", "--dir", str(self.keys))
        if self.owned:
            self.s.sql("insert into okno.grants values (104, 1, array['intake_operator']) "
                       "on conflict do nothing")
            self.s.start_ledger()
            self.s.start("projector", **{"log.level": "warn"})
        self.port = port or free_port()
        read = self.s.app_conninfo.replace("user=okno_app", "user=okno_gateway") \
            .replace("password=okno_app", "password=okno_gateway")
        defaults = {
            "gateway.listen": f"127.0.0.1:{self.port}",
            "gateway.transitions_topic": self.s.topics["transitions"],
            "gateway.read_conninfo": read,
            "auth.jwks_file": str(self.keys / "jwks.json"),
            "log.level": "warn",
        }
        defaults.update(settings)
        self.proc = self.s.start("gateway", **defaults)

    def token(self, user, *extra):
        return okno("token", "issue", "--user", str(user), "--key",
                    str(self.keys / "signing.jwk"), *extra).strip()

    def request(self, method, path, body=None, user=None, org=None, headers=None, raw_body=None,
                token=None):
        """Returns (status, headers dict, parsed JSON body or text)."""
        h = dict(headers or {})
        if user is not None or token is not None:
            h["Authorization"] = "Bearer " + (token or self.token(user))
        if org is not None:
            h["X-Okno-Org"] = str(org)
        data = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return r.status, hdrs, parsed

    def raw(self, data, read_timeout=10):
        """Sends raw bytes on a new connection; returns everything read until EOF."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout) as c:
            try:
                c.sendall(data)
            except OSError:
                pass
            out = b""
            try:
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except OSError:
                pass
            return out

    def produced(self):
        """Records on the transitions topic so far (sum of the partitions' high watermarks)."""
        c = Consumer({"bootstrap.servers": self.s.bootstrap, "group.id": "gw-count"})
        topic = self.s.topics["transitions"]
        md = c.list_topics(topic, timeout=10)
        total = 0
        for p in md.topics[topic].partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high
        c.close()
        return total

    def decided(self, request_id, user, org=None):
        """The request's status once the ledger decided it (bounded wait)."""
        def done():
            st, _, b = self.request("GET", f"/requests/{request_id}?wait=2s", user=user, org=org)
            return b if st == 200 and b["status"] != "pending" and b.get("projected", True) \
                else None
        return wait_until(f"request {request_id} to be decided", done)

    def act(self, message, action, user, org, body=None, expect="accepted"):
        st, hdrs, b = self.request("POST", f"/messages/{message}/actions/{action}", body or {},
                                   user=user, org=org)
        assert st == 202, (action, st, b)
        assert hdrs["location"] == f"/requests/{b['request_id']}"
        verdict = self.decided(b["request_id"], user, org)
        assert verdict["status"] == expect, (action, verdict)
        return verdict

    def submit(self, applicant=5001, text="Яма на дороге", category=1):
        st, _, b = self.request("POST", "/messages", {"text": text, "category_id": category},
                                user=applicant)
        assert st == 202, b
        v = self.decided(b["request_id"], applicant)
        assert v["status"] == "accepted", v
        return b["message_id"]

    def projected(self, message, user, org=None):
        """Waits until the read models show the message's last event."""
        seq = self.s.scalar(f"select max(seq) from okno.event_log where message_id = '{message}'")
        def seen():
            st, _, b = self.request("GET", f"/messages/{message}", user=user, org=org)
            return st == 200 and b["seq"] >= seq
        wait_until(f"message {message} projected", seen)

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def close(self):
        if self.owned:
            self.s.close()
        elif self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
