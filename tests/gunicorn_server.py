"""Serve the app with gunicorn in a subprocess, for tests that need the production server.

    with Gunicorn(["-w", "1", "wsgi:app"], env={...}, log=tmp_path / "gunicorn.log") as server:
        connection = http.client.HTTPConnection(server.host, server.port)

The `readme_gunicorn` fixture runs the command README.md gives for production, read from the
README itself, so that the documentation and the tests cannot drift apart.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_server import free_port

ROOT = Path(__file__).resolve().parent.parent
# How long gunicorn may take to boot a worker that imports the app, on a busy machine.
STARTUP_SECONDS = 90


class Gunicorn:
    """gunicorn with the given arguments, bound to 127.0.0.1 on a free port, its output (access
    log included, when the arguments send it to "-") written to `log`. The control socket is
    left out: its default path is shared by every gunicorn on the machine."""

    host = "127.0.0.1"

    def __init__(self, arguments: list[str], *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.command = [
            sys.executable, "-m", "gunicorn", *arguments,
            "--bind", f"{self.host}:{self.port}", "--no-control-socket",
        ]
        self.env = {**os.environ, **env}
        self.log = log
        self._process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        with self.log.open("wb") as output:
            self._process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
                self.command, cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        self._wait_until_serving()
        return self

    def _wait_until_serving(self) -> None:
        """Until a worker answers: gunicorn listens before its workers have imported the app."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self._process.returncode}:\n{self.output()}")
            try:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
                connection.request("GET", "/static/does-not-exist")
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {STARTUP_SECONDS} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def output_once_it_shows(self, text: str, seconds: float = 30) -> str:
        """The output as soon as it holds `text` (a worker writes its access log line after
        the response has left), or as it is after `seconds`."""
        deadline = time.monotonic() + seconds
        output = self.output()
        while text not in output and time.monotonic() < deadline:
            time.sleep(0.1)
            output = self.output()
        return output

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def readme_gunicorn_command() -> list[str]:
    """The one gunicorn command in README.md, as arguments."""
    lines = re.findall(r"^\s*(gunicorn\s.*)$", (ROOT / "README.md").read_text(), re.MULTILINE)
    if len(lines) != 1:
        raise AssertionError(f"README.md should give one gunicorn command, found {lines}")
    return shlex.split(lines[0])


@pytest.fixture(scope="session")
def readme_gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """The README's gunicorn command serving the test configuration on a database of its own,
    with the demo data and no rate limit in the way; its output is in `.log`."""
    from config import TestConfig
    from crm import create_app
    from crm.demo import seed_demo
    from crm.extensions import db

    folder = tmp_path_factory.mktemp("gunicorn")
    database_url = f"sqlite:///{folder / 'crm.sqlite'}"
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        db.create_all()
        seed_demo("demo password for tests")
        db.session.remove()
        db.engine.dispose()
    command = readme_gunicorn_command()
    assert command[0] == "gunicorn"
    env = {
        "CRM_ENV": "testing",
        "TEST_DATABASE_URL": database_url,
        "PUBLIC_FORM_MIN_SECONDS": "0",
        "PUBLIC_FORM_RATE_LIMIT": "10000 per minute",
        "PUBLIC_FORM_REFUSED_RATE_LIMIT": "10000 per minute",
    }
    with Gunicorn(command[1:], env=env, log=folder / "gunicorn.log") as server:
        yield server
