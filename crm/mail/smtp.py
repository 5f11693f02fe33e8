"""The SMTP transport: one connection per batch, and which failures are worth retrying.

The worker hands the transport plain `Outgoing` snapshots, never ORM objects, so sending
cannot start a database transaction. Every failure comes back as a DeliveryError that says
whether retrying can help (`permanent`) and whether the connection itself failed
(`connection`: the rest of the batch would fail the same way, so it is not tried).

Permanent, so the message goes DEAD at once instead of being retried for an hour:
- a 5xx reply to RCPT (no such mailbox, domain does not accept mail), except 552, which
  RFC 5321 section 4.5.3.1.10 says to treat as the temporary 452 (mailbox full). A refusal
  on security or policy grounds (enhanced status 5.7.x) carries its `refusal` ("554 5.7.1"):
  the worker takes the same one for several different recipients in a row as a fault of
  ours (a relay that wants a login we did not give), and retries;
- a 5xx reply to DATA (the server refused this message's content);
- a message that cannot be built (a header with a line break) or needs SMTPUTF8 that the
  server lacks: the same bytes would fail the same way every time.
Everything else is retried: 4xx replies, timeouts, refused connections, and the failures
that point at our own settings (login refused, sender refused, STARTTLS missing), so
that fixing the settings lets the queue drain without an admin re-sending anything.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Protocol

MAX_ERROR_LENGTH = 300


@dataclass(frozen=True)
class Outgoing:
    """What the transport needs of one OutboundEmail, copied out of the session."""

    id: int
    message_id: str
    kind: str
    to_address: str
    subject: str
    body_text: str
    language: str
    created_at: datetime
    inquiry_id: int | None = None
    reply_to: str | None = None


class DeliveryError(Exception):
    def __init__(
        self, reason: str, *, permanent: bool = False, connection: bool = False, refusal: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.connection = connection
        # A permanent refusal at RCPT: its code and enhanced status ("554 5.7.1"), no text.
        self.refusal = refusal


class Connection(Protocol):
    def send(self, outgoing: Outgoing) -> None:
        """Deliver one message or raise DeliveryError."""


class Transport(Protocol):
    def connect(self) -> AbstractContextManager[Connection]:
        """A connection for one batch, closed when the block ends."""


def build_message(outgoing: Outgoing, sender: str) -> EmailMessage:
    """The email as sent. Every header comes from the stored row, so a retry sends the same
    message: same Message-ID (receivers drop repeats by it) and the Date it was queued.

    ASCII headers are stored as they are (``set_raw``) rather than parsed: parsing them was
    most of the cost of a message, and the generator still folds a long one on the way out.
    Others (a Spanish subject, a display name with an accent) are parsed, to be encoded. A line
    break, which would let a value add a header of its own, is refused here as parsing refuses it."""
    message_id = outgoing.message_id.strip()
    headers = [
        ("From", sender),
        ("To", outgoing.to_address),
        ("Subject", outgoing.subject),
        *([("Reply-To", outgoing.reply_to)] if outgoing.reply_to else []),
        ("Message-ID", message_id if message_id.startswith("<") else f"<{message_id}>"),
        ("Date", format_datetime(outgoing.created_at)),
    ]
    for name, value in headers:
        if "\r" in value or "\n" in value:
            raise ValueError(f"the {name} header holds a line break")
    message = EmailMessage()
    for name, value in headers:
        if value.isascii():
            message.set_raw(name, value)
        else:
            message[name] = value
    message.set_content(outgoing.body_text, subtype="plain", charset="utf-8")
    message["Content-Language"] = outgoing.language or "en"  # after set_content, which drops Content-*
    return message


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def describe_error(error: BaseException) -> str:
    """One short line for last_error and the inquiry timeline: the SMTP reply or the socket
    error, never a traceback."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (0, b""))
        text = f"recipient refused: {code} {_text(reply)}"
    elif isinstance(error, smtplib.SMTPResponseException):
        text = f"{type(error).__name__}: {error.smtp_code} {_text(error.smtp_error)}"
    elif isinstance(error, OSError) and error.strerror:
        text = f"{type(error).__name__}: {error.strerror}"
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _is_permanent_reply(code: int) -> bool:
    return 500 <= code < 600


def _refusal(error: smtplib.SMTPRecipientsRefused) -> str | None:
    """The code and enhanced status of a refusal on security or policy grounds ("554 5.7.1",
    RFC 3463's class 7: relaying denied, login required, our sender blocked), which can be a
    fault of ours rather than of the address; None for any other (no such mailbox, say)."""
    code, reply = next(iter(error.recipients.values()))
    status = re.match(r"\s*(5\.7\.\d{1,3})\b", _text(reply))
    return f"{code} {status.group(1)}" if status else None


def classify(error: Exception) -> DeliveryError:
    """A failure while sending one message on an open connection, as a DeliveryError."""
    if isinstance(error, DeliveryError):
        return error
    reason = describe_error(error)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in error.recipients.values()]
        permanent = bool(codes) and all(_is_permanent_reply(code) and code != 552 for code in codes)
        return DeliveryError(reason, permanent=permanent, refusal=_refusal(error) if permanent else None)
    if isinstance(error, smtplib.SMTPDataError):
        return DeliveryError(reason, permanent=_is_permanent_reply(error.smtp_code))
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return DeliveryError(reason, permanent=True)  # e.g. a non-ASCII address without SMTPUTF8
    return DeliveryError(reason)


@dataclass(frozen=True)
class SMTPTransport:
    host: str
    port: int = 25
    timeout: float = 10
    use_tls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = "backbone-crm@localhost"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SMTPTransport:
        return cls(
            host=config.get("MAIL_SERVER") or "",
            port=int(config.get("MAIL_PORT") or 25),
            timeout=float(config.get("MAIL_TIMEOUT") or 10),
            use_tls=bool(config.get("MAIL_USE_TLS")),
            username=config.get("MAIL_USERNAME") or "",
            password=config.get("MAIL_PASSWORD") or "",
            sender=config.get("MAIL_DEFAULT_SENDER") or "backbone-crm@localhost",
        )

    @contextmanager
    def connect(self) -> Iterator[SMTPConnection]:
        connection = SMTPConnection(self)
        try:
            yield connection
        finally:
            connection.close()


class SMTPConnection:
    """Opens the SMTP session on the first send and reuses it for the batch; a dropped
    session is opened again for the next message."""

    def __init__(self, transport: SMTPTransport) -> None:
        self._transport = transport
        self._smtp: smtplib.SMTP | None = None
        self._envelope_from = parseaddr(transport.sender)[1] or transport.sender

    def _redact(self, reason: str) -> str:
        password = self._transport.password
        return reason.replace(password, "***") if password else reason

    def _open(self) -> smtplib.SMTP:
        settings = self._transport
        try:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        except (OSError, smtplib.SMTPException) as error:
            reason = f"cannot connect to {settings.host}:{settings.port}: {describe_error(error)}"
            raise DeliveryError(self._redact(reason), connection=True) from error
        try:
            if settings.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password)
        except (OSError, smtplib.SMTPException) as error:
            smtp.close()
            raise DeliveryError(self._redact(describe_error(error)), connection=True) from error
        self._smtp = smtp
        return smtp

    def send(self, outgoing: Outgoing) -> None:
        try:
            message = build_message(outgoing, self._transport.sender)
        except (ValueError, TypeError) as error:
            raise DeliveryError(f"message cannot be built: {describe_error(error)}", permanent=True) from error
        smtp = self._smtp or self._open()
        try:
            smtp.send_message(message, from_addr=self._envelope_from, to_addrs=[outgoing.to_address])
        except (OSError, smtplib.SMTPException) as error:
            if smtp.sock is None or isinstance(error, OSError | smtplib.SMTPServerDisconnected):
                self.close()  # smtplib closed it (a 421) or it broke: the next send opens a new one
            failure = classify(error)
            failure.reason = self._redact(failure.reason)
            raise failure from error

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
