"""An SMTP server that accepts everything and counts it: `python bench/smtp_sink.py PORT`.

Run as a process of its own by bench.mail_drain. It prints "ready" once listening, and
answers each "count" line on stdin with the number of messages accepted so far.
"""

from __future__ import annotations

import sys

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.accepted += len(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def main() -> None:
    port = int(sys.argv[1])
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                print(counter.accepted, flush=True)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
