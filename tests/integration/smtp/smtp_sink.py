#!/usr/bin/python3
"""A real local SMTP server for the notifier's tests (Debian's python3-aiosmtpd).

smtp_sink.py PORT OUT.jsonl: listens on 127.0.0.1:PORT (0: a free port), prints the port on its
first line once it accepts connections, and appends one JSON object per accepted mail to
OUT.jsonl: the envelope, the decoded headers and body (of a multipart/mixed mail: its text part,
and its attachments decoded), and facts about the raw message (all ASCII, longest line). A recipient whose local part contains "bounce" is refused with a 550.
While the file OUT.jsonl.hold exists, a mail's DATA is held unanswered: the sink creates
OUT.jsonl.arrived and answers (and records the mail) once the hold file is gone, so a test can
act between a mail's arrival and its 250.
It stops on SIGTERM, or when its stdin closes (the test that started it is gone)."""
import asyncio
import email
import email.policy
import json
import os
import signal
import socket
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "bounce" in address.split("@")[0]:
            return "550 5.1.1 <%s>: no such mailbox here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        hold = self.path + ".hold"
        if os.path.exists(hold):
            open(self.path + ".arrived", "w").close()
            while os.path.exists(hold):
                await asyncio.sleep(0.02)
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        lines = raw.split(b"\r\n")
        header_end = lines.index(b"") if b"" in lines else len(lines)
        text = msg.get_body(preferencelist=("plain",)) if msg.is_multipart() else msg
        attachments = [{"filename": a.get_filename(), "content_type": a.get_content_type(),
                        "charset": a.get_content_charset(), "disposition":
                        a.get_content_disposition(), "content": a.get_content()}
                       for a in msg.iter_attachments()] if msg.is_multipart() else []
        record = {
            "rcpt": envelope.rcpt_tos,
            "mail_from": envelope.mail_from,
            "message_id": msg["Message-ID"],
            "date": msg["Date"],
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "mime_version": msg["MIME-Version"],
            "content_type": msg.get_content_type(),
            "charset": text.get_content_charset(),
            "transfer_encoding": text["Content-Transfer-Encoding"],
            "body": text.get_content().replace("\r\n", "\n"),
            "attachments": attachments,
            "ascii": all(b < 128 for b in raw),
            "longest_header_line": max(len(l) for l in lines[:header_end]),
        }
        with self.lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return "250 2.0.0 accepted"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = int(sys.argv[1]) or free_port()
    controller = Controller(Sink(sys.argv[2]), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin():
        while os.read(0, 1):
            pass
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not done.is_set():
        time.sleep(0.05)
    controller.stop()
    os._exit(0)  # the stdin watcher may still be blocked in read


if __name__ == "__main__":
    main()
