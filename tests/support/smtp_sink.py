"""A real SMTP server for the tests (aiosmtpd): every mail it accepts is written to a folder as
JSON ({"mail_from", "rcpt_tos", "data"}), one file each, so a test reads what arrived. Mail to
nobody@... is refused (550), as a mailbox that does not exist.

Usage: python3 smtp_sink.py PORT FOLDER  (prints "ready" once it listens)
"""
import json
import os
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A mailbox that does not exist, for the tests of a final failure.
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mail = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        name = os.path.join(self.folder, f"{time.time_ns()}.json")
        with open(name + ".tmp", "w") as f:
            json.dump(mail, f)
        os.rename(name + ".tmp", name)
        return "250 OK"


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
