#!/usr/bin/python3
"""The local cluster's mail sink (Debian's python3-aiosmtpd): a real SMTP server that keeps every
mail it accepts as an .eml file, for the demo and for a developer to open afterwards.

mail_sink.py PORT DIR: listens on 127.0.0.1:PORT (0: a free port), writes the bound port to
DIR/port once it accepts connections, and stores each accepted message as
DIR/NNNNNN-<first recipient>.eml (the bytes as received). It stops on SIGTERM."""
import os
import re
import signal
import socket
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.lock = threading.Lock()
        self.count = len([f for f in os.listdir(folder) if f.endswith(".eml")])

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        rcpt = re.sub(r"[^A-Za-z0-9@._-]", "_", envelope.rcpt_tos[0] if envelope.rcpt_tos else "x")
        with self.lock:
            self.count += 1
            path = os.path.join(self.folder, f"{self.count:06d}-{rcpt}.eml")
            with open(path + ".tmp", "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.rename(path + ".tmp", path)  # an .eml is whole or absent
        return "250 2.0.0 kept"


def free_port():
    """aiosmtpd's Controller connects to its own port to check it is up, so it cannot take 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    port = port or free_port()
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    bound = port
    with open(os.path.join(folder, "port.tmp"), "w") as f:
        f.write(f"{bound}\n")
    os.rename(os.path.join(folder, "port.tmp"), os.path.join(folder, "port"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        time.sleep(0.2)
    controller.stop()


if __name__ == "__main__":
    main()
