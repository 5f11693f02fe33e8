"""What a gunicorn worker imports (README, Benchmarks: memory): the app as wsgi.py builds it for
a server leaves out the libraries only commands or rare pages need; they are imported when used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Commands (Flask-Migrate brings Alembic, Mako, Pygments), the calendar feed, the API's body
# checks, two-factor set-up and secrets, imports' spreadsheets, and the
# ZIP package (the app reads its own table).
LEFT_OUT = ("flask_migrate", "alembic", "mako", "pygments", "icalendar", "jsonschema", "segno",
            "cryptography", "openpyxl", "zipcodes")  # fmt: skip


def _imported_by_wsgi(**env: str) -> dict:
    script = (
        "import json, sys, wsgi; "
        f"print(json.dumps({{'loaded': sorted(set({LEFT_OUT!r}) & set(sys.modules)), "
        "'commands': sorted(wsgi.app.cli.commands)}))"
    )
    environment = {key: value for key, value in os.environ.items() if key != "FLASK_RUN_FROM_CLI"}
    result = subprocess.run(  # noqa: S603  (our own interpreter)
        [sys.executable, "-c", script],
        cwd=ROOT, env={**environment, "CRM_ENV": "testing", **env}, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_server_worker_imports_no_command_or_rare_page_library() -> None:
    served = _imported_by_wsgi()

    assert served["loaded"] == []
    assert served["commands"] == []


def test_the_command_line_still_has_its_commands() -> None:
    from_cli = _imported_by_wsgi(FLASK_RUN_FROM_CLI="true")

    assert {"db", "crm"} <= set(from_cli["commands"])
