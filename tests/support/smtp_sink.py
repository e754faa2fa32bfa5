"""A real SMTP server (aiosmtpd) for the integration tests.

Every accepted message is parsed and written to DIR as one JSON file (text
and HTML parts decoded), so the Rust tests can read what a mail client would
see. Every EHLO and every AUTH attempt (accepted or not) leaves an empty
`ehlo-N.event` / `auth-N.event` file, so a test can tell "the client came and
did not log in" from "the client never came". Recipients whose local part
starts with "bounce" are refused with a permanent 550. With --auth USER:PASS,
AUTH PLAIN/LOGIN is required.

    python3 tests/support/smtp_sink.py --port 2525 --dir /tmp/mail [--auth u:p]
"""

import argparse
import email
import email.policy
import json
import os
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    def event(self, kind):
        with self.lock:
            self.count += 1
            name = os.path.join(self.directory, f"{kind}-{self.count:06d}.event")
        open(name, "w").close()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.event("ehlo")
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].lower().startswith("bounce"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype in ("text/plain", "text/html") and ctype not in parts:
                parts[ctype] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg.get("From", "")),
            "to": str(msg.get("To", "")),
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
            "peer": list(session.peer) if session.peer else None,
            "authenticated": bool(session.authenticated),
        }
        with self.lock:
            self.count += 1
            name = os.path.join(self.directory, f"{self.count:06d}.json")
        tmp = name + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, name)
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--auth")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    sink = Sink(args.dir)
    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            sink.event("auth")
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok)

        kwargs = dict(
            authenticator=authenticator,
            auth_require_tls=False,
            auth_required=True,
        )

    controller = Controller(sink, hostname="127.0.0.1", port=args.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
