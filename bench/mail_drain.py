"""How fast the send-mail job drains the outbox into a local SMTP server, and the runner's memory.

    python -m bench.mail_drain --emails 2000          # DATABASE_URL, else the development SQLite file

It queues that many emails (to addresses under bench.example.org), starts aiosmtpd in a
process of its own (so the server does not share this process's interpreter), drains the
outbox with crm.mail.worker.drain_outbox, checks the server received each message once, and
prints the rate and this process's resident memory. The emails it queued are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import delete, func, insert, select

from crm.database import utcnow
from crm.extensions import db
from crm.models import EmailKind, EmailStatus, OutboundEmail

BENCH_DOMAIN = "bench.example.org"
CHUNK = 5_000
COUNTING_SERVER = Path(__file__).with_name("smtp_sink.py")


@dataclass(frozen=True)
class DrainResult:
    emails: int
    sent: int
    received: int
    seconds: float
    cpu_seconds: float  # this process's CPU time during the drain: what the runner itself spent
    rss_mb: float

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"Drained {self.sent} of {self.emails} emails in {self.seconds:.2f} s: {self.per_second:.0f} emails/s; "
            f"the server received {self.received}; runner CPU {1000 * self.cpu_seconds / max(self.sent, 1):.2f} ms "
            f"per email; runner RSS {self.rss_mb:.0f} MB"
        )


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), from /proc."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SinkServer:
    """aiosmtpd in a subprocess that counts what it accepts (bench/smtp_sink.py)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, str(COUNTING_SERVER), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> SinkServer:
        self._ask()  # "ready" once it listens
        return self

    def _ask(self, question: str = "") -> str:
        if self.process.stdin is None or self.process.stdout is None:
            raise RuntimeError("the SMTP sink's pipes are closed")
        if question:
            self.process.stdin.write(question + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def received(self) -> int:
        return int(self._ask("count"))

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def queue_bench_emails(count: int) -> None:
    now = utcnow()
    rows = [
        {
            "message_id": make_msgid(idstring="bench", domain=BENCH_DOMAIN),
            "kind": EmailKind.CONTACT_NOTICE,
            "to_address": f"person{number}@{BENCH_DOMAIN}",
            "subject": f"New inquiry BX-{number:07d} for you",
            "body_text": "Hello,\n\nThere is a new inquiry for you. Sign in to read it.\n\nBackbone CRM\n",
            "language": "en",
            "status": EmailStatus.PENDING,
            "attempts": 0,
            "last_error": "",
            "created_at": now,
            "next_attempt_at": now,
        }
        for number in range(count)
    ]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(OutboundEmail), rows[start : start + CHUNK])
    db.session.commit()


def remove_bench_emails() -> None:
    db.session.execute(delete(OutboundEmail).where(OutboundEmail.to_address.like(f"%@{BENCH_DOMAIN}")))
    db.session.commit()


def measure_drain(app, emails: int) -> DrainResult:
    """Queue `emails` messages, drain them into a sink server, and clean up."""
    from crm.mail.worker import drain_outbox

    with SinkServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_USE_TLS=False, MAIL_USERNAME="")
        remove_bench_emails()
        waiting = db.session.scalar(
            select(func.count()).select_from(OutboundEmail).where(OutboundEmail.status == EmailStatus.PENDING)
        )
        if waiting:
            print(f"Note: {waiting} other pending emails are in the outbox and will be sent too")  # noqa: T201
        queue_bench_emails(emails)
        started, cpu_started = time.perf_counter(), time.process_time()
        sent = drain_outbox()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        received = server.received()
        result = DrainResult(
            emails=emails, sent=sent, received=received, seconds=seconds, cpu_seconds=cpu_seconds, rss_mb=rss_mb()
        )
        remove_bench_emails()
    return result


def main(argv: list[str] | None = None) -> int:
    from config import Config, DevelopmentConfig
    from crm import create_app

    parser = argparse.ArgumentParser(prog="python -m bench.mail_drain", description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=2000, help="emails to queue and drain (default 2000)")
    parser.add_argument("--senders", type=int, help="SMTP connections side by side (default: MAIL_SENDERS)")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or Config.SQLALCHEMY_DATABASE_URI
    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False)
    if args.senders:
        app.config["MAIL_SENDERS"] = args.senders
    with app.app_context():
        print(f"Database: {db.engine.url.render_as_string(hide_password=True)}; senders: {app.config['MAIL_SENDERS']}")  # noqa: T201
        result = measure_drain(app, args.emails)
    print(result.line())  # noqa: T201
    return 0 if result.sent == result.received == args.emails else 1


if __name__ == "__main__":
    sys.exit(main())
