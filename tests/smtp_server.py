"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping what it receives.

Use it as a plugin (`pytest_plugins = ["tests.smtp_server"]`) and ask for `smtp_server`:
`.port`, `.messages` (parsed EmailMessage objects), `.envelopes` ((mail_from, rcpt_tos)),
`make_smtp_server(credentials=...)` starts another; `mail_config(port)` points the app at one. `.reject` (address -> reply to RCPT, e.g. "550 5.1.1 No such user"), `.data_reply` (a reply
to DATA instead of accepting; the refused message is kept in `.refused`), `.on_message` (called
with each accepted message, in the server's thread), and `.stop()` / `.start()` to take the
server down and bring it back on the same port.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reject: dict[str, str] = {}
        self.refused: list[EmailMessage] = []
        self.data_reply: str | None = None
        self.on_message: Callable[[EmailMessage], None] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802 (aiosmtpd's hook name)
        reply = self.reject.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        if self.data_reply:
            self.refused.append(message)
            return self.data_reply
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.on_message is not None:
            self.on_message(message)
        return "250 Message accepted for delivery"


class SMTPTestServer:
    def __init__(self, port: int | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.credentials = credentials
        self.logins: list[str] = []
        self._handler = _Collector()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self._handler.messages

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        return self._handler.envelopes

    @property
    def reject(self) -> dict[str, str]:
        return self._handler.reject

    @property
    def refused(self) -> list[EmailMessage]:
        return self._handler.refused

    @property
    def data_reply(self) -> str | None:
        return self._handler.data_reply

    @data_reply.setter
    def data_reply(self, reply: str | None) -> None:
        self._handler.data_reply = reply

    @property
    def on_message(self) -> Callable[[EmailMessage], None] | None:
        return self._handler.on_message

    @on_message.setter
    def on_message(self, callback: Callable[[EmailMessage], None] | None) -> None:
        self._handler.on_message = callback

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        expected = self.credentials
        login = getattr(auth_data, "login", b"")
        password = getattr(auth_data, "password", b"")
        login = login.decode() if isinstance(login, bytes) else login
        password = password.decode() if isinstance(password, bytes) else password
        if expected is not None and (login, password) == expected:
            self.logins.append(login)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        if self._controller is not None:
            return
        options: dict[str, Any] = {}
        if self.credentials is not None:
            options = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port, server_hostname="smtp.backbone-crm.test", **options
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SMTPTestServer]]:
    """Start another server, e.g. one that wants a login: make_smtp_server(credentials=(user, password))."""
    servers: list[SMTPTestServer] = []

    def make(**options: Any) -> SMTPTestServer:
        server = SMTPTestServer(**options)
        servers.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def smtp_server(make_smtp_server) -> SMTPTestServer:
    return make_smtp_server()


@pytest.fixture
def mail_config(app, monkeypatch):
    """Point the app's MAIL_* settings at a test server for one test:
    `transport = mail_config(smtp_server.port, MAIL_USERNAME=...)` returns its SMTPTransport."""
    from crm.mail.smtp import SMTPTransport

    def configure(port: int, **extra: Any) -> SMTPTransport:
        settings = {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
            "MAIL_DEFAULT_SENDER": "Backbone CRM <crm@backbone-crm.test>",
            "MAIL_TIMEOUT": 5,
            "MAIL_USE_TLS": False,
            "MAIL_USERNAME": "",
            "MAIL_PASSWORD": "",
            **extra,
        }
        for key, value in settings.items():
            monkeypatch.setitem(app.config, key, value)
        return SMTPTransport.from_config(app.config)

    return configure
