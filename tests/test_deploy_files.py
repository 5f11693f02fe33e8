"""deploy/ serves the app with the README's gunicorn command (its access log keeps no query
string), and runs the job runner the README describes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.gunicorn_server import readme_gunicorn_command

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _without_bind(arguments: list[str]) -> list[str]:
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "--bind":
            skip = True
        else:
            kept.append(argument)
    return kept


def _same_command(arguments: list[str]) -> list[str]:
    """The README's command with the worker count and the app's quoting left aside."""
    arguments = _without_bind(arguments)
    workers = arguments.index("-w")
    del arguments[workers : workers + 2]
    return [argument.strip("'") for argument in arguments]


def _procfile() -> dict[str, str]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_procfile_runs_the_readme_gunicorn_command_and_the_job_runner() -> None:
    processes = _procfile()

    assert set(processes) == {"web", "jobs"}
    assert _same_command(shlex.split(processes["web"])) == _same_command(readme_gunicorn_command())
    # The runner's pool holds a connection for each of the mail drain's senders.
    assert processes["jobs"] == "env DATABASE_POOL_SIZE=4 flask --app wsgi crm jobs"


def _exec_start(unit: str) -> list[str]:
    text = (DEPLOY / "systemd" / unit).read_text()
    (line,) = re.findall(r"^ExecStart=(.*)$", text, re.MULTILINE)
    # systemd expands % specifiers: a literal % is written %%.
    return shlex.split(line.replace("%%", "%"))


def test_systemd_units_run_the_readme_gunicorn_command_and_the_job_runner() -> None:
    web = _exec_start("backbone-web.service")
    jobs = _exec_start("backbone-jobs.service")

    assert web[0].endswith("/.venv/bin/gunicorn")
    assert _same_command(["gunicorn", *web[1:]]) == _same_command(readme_gunicorn_command())
    assert jobs[0].endswith("/.venv/bin/flask")
    assert jobs[1:] == ["--app", "wsgi", "crm", "jobs"]
    # As many pooled connections as the mail drain has senders (README, Production).
    from config import Config

    jobs_unit = (DEPLOY / "systemd" / "backbone-jobs.service").read_text()
    assert re.findall(r"^Environment=DATABASE_POOL_SIZE=(\d+)$", jobs_unit, re.MULTILINE) == [str(Config.MAIL_SENDERS)]
    # Only doubled percent signs: a single one would be a systemd specifier.
    for unit in ("backbone-web.service", "backbone-jobs.service"):
        line = next(
            line for line in (DEPLOY / "systemd" / unit).read_text().splitlines() if line.startswith("ExecStart=")
        )
        assert "%" not in line.replace("%%", ""), line


def test_example_environment_names_only_real_settings() -> None:
    import config

    names = re.findall(r"^([A-Z_]+)=", (DEPLOY / "backbone.env.example").read_text(), re.MULTILINE)
    # Settings are read as os.environ.get("NAME", ...) or _int("NAME", ...) in config.py.
    known = set(Path(config.__file__).read_text().split('"'))
    assert names
    assert [name for name in names if name not in known] == []
