"""A minimal okno producer and outcome reader in Python, from the schemas alone.

Everything a client needs is in `schemas/*.avsc` and `schemas/README.md`:
- records are Avro single-object encoded: C3 01, the schema's 8-byte CRC-64-AVRO fingerprint,
  the body;
- the Kafka key is the message id's 36-character lowercase text form, and records are
  partitioned with murmur2 like Kafka's Java client (`partitioner: murmur2_random`;
  confluent-kafka's default, consistent_random, puts a message's requests on another partition
  than the ledger expects, and the ledger refuses them with `wrong_partition`);
- the payload union's branch is named, never guessed: seven payload records have no fields,
  so an encoder that picks a branch by the shape of the value picks the first empty one.
  fastavro's tuple notation `("okno.v1.TakeIntoWork", {})` names it;
- each request's outcome is an `Event` on okno.events.v1 or a `Rejection` on
  okno.rejections.v1 carrying the request's id.
"""
import io
import json
import os
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

SCHEMAS = Path(os.environ.get("OKNO_SCHEMAS", Path(__file__).resolve().parents[2] / "schemas"))
NAMESPACE = "okno.v1"
# The payload branch of each action (TransitionRequest.payload).
PAYLOAD = {
    "submit": "Submit", "accept": "Accept", "reject": "Reject",
    "assign_executor": "AssignExecutor", "take_over": "TakeOver",
    "forward_to_subordinate": "ForwardToSubordinate", "propose_redirect": "ProposeRedirect",
    "return_upstream": "ReturnUpstream", "take_into_work": "TakeIntoWork",
    "return_to_coordination": "ReturnToCoordination", "reassign_executor": "ReassignExecutor",
    "draft_answer": "DraftAnswer", "agree": "Agree", "refuse_agreement": "RefuseAgreement",
    "delegate_agreement": "DelegateAgreement", "approve": "Approve",
    "refuse_approval": "RefuseApproval", "delegate_approval": "DelegateApproval",
}
# The producer settings okno needs: the Java client's partitioner, and no duplicates on retry.
PRODUCER_CONF = {"partitioner": "murmur2_random", "enable.idempotence": True, "acks": "all"}


class Schemas:
    """The schemas of schemas/, by name and by the fingerprint on the wire."""

    def __init__(self, folder=SCHEMAS, files=None):
        """The schemas of folder/*.avsc, or of files ({name: path}), e.g. a released version
        from schemas/history/<Name>/vN.avsc."""
        self.by_name, self.by_fingerprint = {}, {}
        paths = files or {p.stem: p for p in sorted(Path(folder).glob("*.avsc"))}
        for name, path in paths.items():
            schema = parse_schema(json.loads(Path(path).read_text()))
            fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
            self.by_name[name] = (fp, schema)
            self.by_fingerprint[fp] = (name, schema)

    def encode(self, name, record):
        fp, schema = self.by_name[name]
        out = io.BytesIO()
        out.write(b"\xc3\x01" + fp)
        schemaless_writer(out, schema, record)
        return out.getvalue()

    def decode(self, value):
        """(schema name, record) of a single-object encoded value; KeyError for an unknown
        fingerprint (a schema version this copy of schemas/ does not have)."""
        if value[:2] != b"\xc3\x01":
            raise ValueError("not Avro single-object encoding")
        name, schema = self.by_fingerprint[value[2:10]]
        return name, schemaless_reader(io.BytesIO(value[10:]), schema)


def request(action, message_id, user, org, payload=None, reason=None, comment=None,
            request_id=None):
    """A TransitionRequest. `org` is the org the user acts in: 0 for the applicant, the
    operator's org for a moderator, the org holding the message for everyone else."""
    return {
        "request_id": (request_id or uuid.uuid4()).bytes,
        "message_id": message_id.bytes,
        "action": action,
        "acting_user_id": user,
        "acting_org_id": org,
        "requested_at": int(time.time() * 1000),  # informative: the ledger's clock decides
        "reason": reason,
        "comment": comment,
        "payload": (f"{NAMESPACE}.{PAYLOAD[action]}", payload or {}),  # the branch, named
    }


class Client:
    """Sends requests for messages and waits for each one's outcome by request id."""

    def __init__(self, bootstrap, transitions, events, rejections, schemas=None):
        self.schemas = schemas or Schemas()
        self.transitions = transitions
        self.producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONF})
        self.consumer = Consumer({"bootstrap.servers": bootstrap,
                                  "group.id": f"okno-example-{uuid.uuid4()}",
                                  "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest"})
        self.consumer.subscribe([events, rejections])
        self.outcomes = {}  # request id bytes -> ("Event" | "Rejection", record)

    def send(self, req, partition=None, schemas=None):
        """Produces one request keyed by its message id's text; `partition` overrides the
        partitioner (only to show what the ledger does with a misrouted record); `schemas`
        encodes with other schemas (an older released version, say)."""
        key = str(uuid.UUID(bytes=req["message_id"]))
        extra = {} if partition is None else {"partition": partition}
        delivered = []
        self.producer.produce(self.transitions, key=key,
                              value=(schemas or self.schemas).encode("TransitionRequest", req),
                              on_delivery=lambda err, m: delivered.append((err, m)), **extra)
        self.producer.flush(30)
        if not delivered or delivered[0][0] is not None:
            raise RuntimeError(f"the request was not delivered: {delivered}")
        self.last_partition = delivered[0][1].partition()
        self.last_offset = delivered[0][1].offset()
        return req["request_id"]

    def poll(self):
        """Reads what has come on the outcome topics into self.outcomes, by request id (a
        refusal of a record that did not decode, which has none, by where the record lay)."""
        for m in self.consumer.consume(100, 0.2):
            if m.error() is None:
                name, rec = self.schemas.decode(m.value())
                key = rec.get("request_id") or (rec["source_partition"], rec["source_offset"])
                self.outcomes[key] = (name, rec)

    def outcome(self, request_id, timeout_s=60.0):
        """("Event", event) or ("Rejection", rejection) for the request (its id, or for a record
        that did not decode its (partition, offset)), once it is decided."""
        deadline = time.monotonic() + timeout_s
        while request_id not in self.outcomes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no outcome for request {request_id!r}")
            self.poll()
        return self.outcomes[request_id]

    def do(self, req, partition=None, timeout_s=60.0, schemas=None):
        return self.outcome(self.send(req, partition, schemas), timeout_s)

    def close(self):
        self.consumer.close()
