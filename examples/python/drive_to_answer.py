"""Submits one message and drives it to an approved answer through Kafka, printing each
request's outcome as read back from okno.events.v1 / okno.rejections.v1 by request id.

usage: python3 drive_to_answer.py --bootstrap HOST:PORT [--transitions T] [--events T]
                                  [--rejections T] [--ministry ORG]

The people are those of deploy/local/demo_directory.sql: moderator 101 in the platform
operator's org 1; in a participant org O, coordinator O*100+1, executor O*100+2 and manager
O*100+5. Exit code 0 when the message is answered, 1 when a step was refused."""
import argparse
import sys
import uuid

from okno_client import Client, request


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--transitions", default="okno.transitions.v1")
    ap.add_argument("--events", default="okno.events.v1")
    ap.add_argument("--rejections", default="okno.rejections.v1")
    ap.add_argument("--ministry", type=int, default=1010)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    org = args.ministry
    moderator, operator_org, applicant = 101, 1, 424242
    coordinator, executor, manager = org * 100 + 1, org * 100 + 2, org * 100 + 5
    message = uuid.uuid4()
    steps = [
        # (action, acting user, acting org, payload, reason)
        ("submit", applicant, 0, {"channel": "portal", "applicant_id": applicant,
                                  "category_id": 1, "subcategory_id": None,
                                  "text": "The pedestrian crossing lights are broken.",
                                  # a file by reference: it stays in the portal's file store
                                  "attachments": [{
                                      "id": "3f2b8c1e-5d4a-4e9b-8c7d-1a2b3c4d5e6f",
                                      "name": "crossing.jpg", "media_type": "image/jpeg",
                                      "size_bytes": 182344,
                                      "sha256": "6b86b273ff34fce19d6b804eff5a3f57"
                                                "47ada4eaa22f1d49c01e52ddb7875b4b"}]}, None),
        ("accept", moderator, operator_org, {"target_org_id": org, "category_id": None,
                                             "subcategory_id": None}, None),
        ("assign_executor", coordinator, org, {"executor_user_id": executor}, None),
        ("take_into_work", executor, org, {}, None),
        ("draft_answer", executor, org, {"answer_type": "resolved",
                                         "text": "The lights were repaired on Monday.",
                                         "postponed_until": None, "agreer_user_ids": [],
                                         "approver_user_id": manager}, None),
        ("approve", manager, org, {"edited_text": None}, None),
    ]
    client = Client(args.bootstrap, args.transitions, args.events, args.rejections)
    try:
        print(f"message {message}")
        for action, user, acting_org, payload, reason in steps:
            req = request(action, message, user, acting_org, payload, reason=reason)
            kind, rec = client.do(req, timeout_s=args.timeout)
            if kind == "Rejection":
                print(f"{action:16} refused: {rec['reason_code']}: {rec['message']}")
                return 1
            print(f"{action:16} -> {rec['type']} (seq {rec['seq']}, stage {rec['stage_after']}, "
                  f"outcome {rec['outcome_after']})")
        return 0 if rec["outcome_after"] == "answered" else 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
