"""The HTTP benchmark (bench.over_http) runs end to end at a tiny size: gunicorn, the pages,
the form posts next to the bare insert, the mail drain into an SMTP server, the workers'
memory. It asserts that every row is measured, not how fast."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench_support import table_row

ROOT = Path(__file__).resolve().parent.parent
POSTS = 8

ROWS = (
    "Worker RSS after start",
    "Inbox",
    "Inbox: search a surname",
    "Inquiry page",
    "Partner: inbox",
    "Reports, last 90 days",
    "Reports CSV (county)",
    "Worker RSS after pages",
    "Form post (validate, route, outbox)",
    "Worker RSS after form posts",
    "Bare insert, one row (Flask + SQLAlchemy)",
    "Bare app's worker RSS",
    "Form post rate / bare insert rate",
    "Mail drained into SMTP (send-mail job)",
    "Worker RSS after mail",
)


@pytest.mark.slow
def test_the_http_benchmark_measures_every_row(tmp_path: Path) -> None:
    database = tmp_path / "bench.sqlite"
    env = {**os.environ, "BENCH_DATABASE_URL": f"sqlite:///{database}", "DATABASE_URL": ""}
    arguments = ["--inquiries", "120", "--contacts", "30", "--repeat", "1", "--posts", str(POSTS), "--concurrency", "2"]

    result = subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "bench.over_http", *arguments, "--log", str(tmp_path / "gunicorn.log")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for name in ROWS:
        table_row(output, name)
    form = table_row(output, "Form post (validate, route, outbox)")
    assert form[1:3] == ["302", str(POSTS)], form
    bare = table_row(output, "Bare insert, one row (Flask + SQLAlchemy)")
    assert bare[1:3] == ["201", str(POSTS)], bare
    mail = table_row(output, "Mail drained into SMTP (send-mail job)")
    assert int(mail[1]) >= POSTS, mail  # an acknowledgement per post, at least
    assert re.search(r"\d+\.\d / \d+\.\d MB", " ".join(table_row(output, "Worker RSS after pages"))), output
    assert "Measured " in output
    # What the run posted is gone, and so is the bare insert's table.
    with sqlite3.connect(database) as connection:
        assert connection.execute(
            "SELECT count(*) FROM inquiries WHERE email LIKE '%@post.bench.example.org'"
        ).fetchone() == (0,)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "bench_bare_rows" not in tables


def test_the_http_benchmark_refuses_nonsense_arguments() -> None:
    result = subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "bench.over_http", "--posts", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert "must be positive" in result.stderr
