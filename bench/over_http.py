"""`python -m bench.over_http` (`make bench-http`): the app under gunicorn, measured over real HTTP.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/backbone_bench python -m bench.over_http
    python -m bench.over_http --inquiries 20000 --contacts 2000 --posts 300

One run, one table:
1. the data set of `python -m bench` (bench.benchmark: generated, or kept with --reuse) in the
   database BENCH_DATABASE_URL or DATABASE_URL names (else instance/bench.sqlite), migrated first;
2. the app under gunicorn (--workers sync workers, 2 by default) on that database;
3. the inbox pages and reports, signed in as the bench manager and partner, each requested
   --repeat times by --concurrency clients at once: median and p95;
4. --posts Get in Touch posts (validate, route, outbox) by --concurrency clients: rate, median,
   p95, p99; then as many posts of the same fields to a bare Flask + SQLAlchemy endpoint that
   inserts one row (bench.bare_insert), under the same gunicorn settings on the same database;
5. the outbox those posts queued (an acknowledgement and a notice each) drained by the job
   runner's send-mail job into a local SMTP server (aiosmtpd, in a process of its own): emails per second;
6. each gunicorn worker's resident memory (RSS, from /proc) after each phase, against 120 MB.

The posts are made with email addresses @post.bench.example.org and removed, with their emails,
at the end (and at the start, after an interrupted run); the bare table is dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import delete, func, select

from bench import bare_insert, benchmark
from bench.mail_drain import SinkServer, free_port
from crm.database import utcnow
from crm.extensions import db
from crm.models import HeldPost, Inquiry, OutboundEmail, Topic, User
from crm.models.outbox import EmailStatus
from crm.reports.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE = ROOT / "instance" / "bench.sqlite"
POST_DOMAIN = "post.bench.example.org"
MEMORY_LIMIT_MB = 120.0
STARTUP_SECONDS = 120
REQUEST_TIMEOUT = 60.0
MAIL_DRAIN_SECONDS = 600
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
RENDERED_RE = re.compile(r'name="rendered" type="hidden" value="([^"]+)"')
ZIP_CODES = ("63857", "63863", "63801", "63103", "63110", "64108", "65802")


# --- gunicorn in a subprocess --------------------------------------------------------------



class Server:
    """gunicorn serving `target` with `workers` sync workers on a free local port."""

    def __init__(self, target: str, *, workers: int, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable, "-m", "gunicorn", "-w", str(workers), "--worker-class", "sync",
            "--bind", f"127.0.0.1:{self.port}", "--no-control-socket", target,
        ]  # fmt: skip
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, probe_path: str) -> Server:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
                self.command, cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        import httpx

        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            try:
                httpx.get(self.url + probe_path, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"gunicorn did not answer within {STARTUP_SECONDS} s; see {self.log}")
        return self

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid) if self.process else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def child_pids(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return sorted(children)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- the table -----------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    statuses: tuple[int, ...] = ()
    seconds: list[float] = field(default_factory=list)
    wall_seconds: float | None = None
    count: int | None = None  # what the rate counts, when not the requests (emails)
    value: str = ""  # memory, a ratio
    ok: bool = True

    def percentile_ms(self, p: float) -> str:
        value = percentile([s * 1000 for s in self.seconds], p) if self.seconds else None
        return "" if value is None else f"{value:.1f}"

    @property
    def rate(self) -> str:
        if not self.wall_seconds:
            return ""
        count = self.count if self.count is not None else len(self.seconds)
        return f"{count / self.wall_seconds:.1f}"


def format_table(rows: list[Row]) -> str:
    header = ("Measure", "HTTP", "n", "median ms", "p95 ms", "p99 ms", "per s", "value", "ok")
    lines = [
        (
            row.name,
            "/".join(str(status) for status in sorted(set(row.statuses))),
            str(row.count if row.count is not None else len(row.seconds) or ""),
            row.percentile_ms(50),
            row.percentile_ms(95),
            row.percentile_ms(99),
            row.rate,
            row.value,
            "yes" if row.ok else "NO",
        )
        for row in rows
    ]
    widths = [max(len(line[index]) for line in [header, *lines]) for index in range(len(header))]

    def render(line) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()

    return "\n".join([render(header), "  ".join("-" * width for width in widths), *(render(line) for line in lines)])


# --- requests from several clients at once --------------------------------------------------


Request = Callable[[Any, int], int]  # (httpx.Client, number) -> status


def hammer(base_url: str, request: Request, count: int, concurrency: int, prepare=None) -> Row:
    """`count` requests made by `concurrency` clients at once, each with its own connection and
    cookies (`prepare(client)` first: a page to read tokens from); their times and the wall time."""
    import httpx

    numbers = iter(range(count))
    lock = threading.Lock()
    seconds: list[float] = []
    statuses: list[int] = []

    def client_loop() -> None:
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT, follow_redirects=False) as client:
            state = prepare(client) if prepare else None
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                began = time.perf_counter()
                try:
                    status = request(client, number) if state is None else request(client, number, state)
                except httpx.HTTPError:
                    status = 599  # no answer: counted as a failure
                took = time.perf_counter() - began
                with lock:
                    seconds.append(took)
                    statuses.append(status)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client_loop) for _ in range(concurrency)]:
            future.result()
    return Row(name="", statuses=tuple(statuses), seconds=seconds, wall_seconds=time.perf_counter() - began)


# --- the phases -------------------------------------------------------------------------------


def signed_in_cookie(app: Flask, user: User) -> dict[str, str]:
    """The cookie of a browser signed in as `user` (a server-side session opened for it): the
    bench users have no password anyone knows."""
    from crm.auth.sessions import open_session

    open_session(user, "Backbone CRM HTTP benchmark")
    db.session.commit()
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps({"_user_id": user.current_session_token, "_fresh": True})
    return {app.config["SESSION_COOKIE_NAME"]: value}


def time_pages(app: Flask, server: Server, data, repeat: int, concurrency: int, only: str, say) -> list[Row]:
    import httpx

    rng = random.Random(20130601)  # noqa: S311  (picks sample records, not secrets)
    chosen = [case for case in benchmark.cases(app, data, rng) if not only or only.casefold() in case.name.casefold()]
    cookies = {
        False: signed_in_cookie(app, benchmark.bench_manager()),
        True: signed_in_cookie(app, benchmark.bench_partner()),
    }
    rows = []
    for case in chosen:
        cookie = cookies[case.as_partner]
        with httpx.Client(base_url=server.url, cookies=cookie, timeout=REQUEST_TIMEOUT) as warm:
            warm.get(case.urls(0))  # templates compiled, caches filled, in at least one worker

        def get(client, number: int, url_of=case.urls, cookie=cookie) -> int:
            response = client.get(url_of(number), cookies=cookie)
            return response.status_code

        row = hammer(server.url, get, repeat, concurrency)
        row.name = case.name
        row.ok = set(row.statuses) == {200}
        row.wall_seconds = None  # pages: latency, not a rate
        rows.append(row)
        say(f"  {case.name}: {len(row.seconds)} requests")
    return rows


def form_fields(number: int, topic_id: int) -> dict[str, str]:
    return {
        "name": f"Bench Family {number}",
        "email": f"family{number}-{secrets.token_hex(3)}@{POST_DOMAIN}",
        "phone": "",
        "zip_code": ZIP_CODES[number % len(ZIP_CODES)],
        "topic": str(topic_id),
        "language": "es" if number % 5 == 0 else "en",
        "message": f"Message {number}: we are expecting a baby in the spring and would like to know what help there is near us.",
        "consent": "y",
        "website": "",
    }


def time_form_posts(server: Server, posts: int, concurrency: int, topic_id: int) -> Row:
    def read_tokens(client) -> dict[str, str]:
        page = client.get("/get-in-touch").text
        tokens = {"rendered": RENDERED_RE.search(page).group(1)}
        csrf = CSRF_RE.search(page)
        if csrf:
            tokens["csrf_token"] = csrf.group(1)
        return tokens

    def post(client, number: int, tokens: dict[str, str]) -> int:
        return client.post("/get-in-touch", data={**form_fields(number, topic_id), **tokens}).status_code

    row = hammer(server.url, post, posts, concurrency, prepare=read_tokens)
    row.name = "Form post (validate, route, outbox)"
    row.ok = set(row.statuses) == {302}
    return row


def time_bare_inserts(server: Server, posts: int, concurrency: int, topic_id: int) -> Row:
    def post(client, number: int) -> int:
        return client.post("/rows", data=form_fields(number, topic_id)).status_code

    row = hammer(server.url, post, posts, concurrency)
    row.name = "Bare insert, one row (Flask + SQLAlchemy)"
    row.ok = set(row.statuses) == {201}
    return row


def _posted() -> Any:
    return select(Inquiry.id).where(Inquiry.email.like(f"%@{POST_DOMAIN}"))


def _posted_emails_due() -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(OutboundEmail)
            .where(OutboundEmail.inquiry_id.in_(_posted()), OutboundEmail.status == EmailStatus.PENDING)
        )
        or 0
    )


def remove_posts() -> int:
    """Delete what the form posts stored: their emails, then the inquiries (their events go
    with them)."""
    posted = _posted().scalar_subquery()
    db.session.execute(delete(OutboundEmail).where(OutboundEmail.inquiry_id.in_(posted)))
    db.session.execute(delete(OutboundEmail).where(OutboundEmail.to_address.like(f"%@{POST_DOMAIN}")))
    removed = db.session.execute(delete(Inquiry).where(Inquiry.email.like(f"%@{POST_DOMAIN}"))).rowcount
    db.session.execute(delete(HeldPost).where(HeldPost.email.like(f"%@{POST_DOMAIN}")))
    db.session.commit()
    return removed


def drain_mail(app: Flask, say) -> Row:
    """The job runner's send-mail job, run until the posts' emails are all sent."""
    from crm.jobs.catalogue import jobs_named
    from crm.jobs.runner import run_jobs

    send_mail = jobs_named(["send-mail"])
    queued = _posted_emails_due()
    # The SMTP server in a process of its own, as a mail server is: in this one it would take
    # its turns at the interpreter's lock from the senders it is meant to time.
    with SinkServer() as smtp:
        app.config.update(
            MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_USE_TLS=False, MAIL_USERNAME="", MAIL_PASSWORD=""
        )
        began = time.perf_counter()
        owner = f"bench-{os.getpid()}"
        while _posted_emails_due() and time.perf_counter() - began < MAIL_DRAIN_SECONDS:
            for job_run in run_jobs(send_mail, owner, force=True):
                if job_run.failed:
                    say(f"  {job_run.line()}")
        wall = time.perf_counter() - began
        left = _posted_emails_due()
        received = smtp.received()
        app.config["MAIL_SERVER"] = ""
    say(f"  {received} emails received by the SMTP server, {left} left in the outbox")
    return Row(
        name="Mail drained into SMTP (send-mail job)",
        wall_seconds=wall if received else None,
        count=received,
        value=f"{queued} queued",
        ok=left == 0 and received >= queued > 0,
    )


def memory_row(phase: str, server: Server) -> Row:
    sizes = [rss_mb(pid) for pid in server.worker_pids()]
    known = [size for size in sizes if size is not None]
    return Row(
        name=f"Worker RSS after {phase}",
        value=" / ".join(f"{size:.1f}" for size in known) + " MB",
        ok=bool(known) and max(known) < MEMORY_LIMIT_MB,
    )


# --- the run ----------------------------------------------------------------------------------


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE}"


def server_environment(url: str, secret_key: str) -> dict[str, str]:
    """What the app's gunicorn reads: the development configuration (no HTTPS-only cookies)
    with this run's key, no two-factor set-up in the way of the bench manager, no render-time
    check and no form limit in the way of a stream of posts, and mail held (the bench drains
    it itself)."""
    many = "1000000 per minute"
    return {
        "CRM_ENV": "development",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": url,
        "TWO_FACTOR_REQUIRED_ROLES": "",
        "PUBLIC_FORM_MIN_SECONDS": "0",
        "PUBLIC_FORM_RATE_LIMIT": many,
        "PUBLIC_FORM_REFUSED_RATE_LIMIT": many,
        # Every send routed at once: the form's own cost is measured (bench.post_flood's
        # flood phase sets a budget).
        "PUBLIC_FORM_ROUTING_BUDGET": "",
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "MAIL_SERVER": "",
    }


@contextmanager
def bare_server(url: str, workers: int, log: Path) -> Iterator[Server]:
    engine = db.engine
    bare_insert.create_table(engine)
    server = Server(
        "bench.bare_insert:create_app()", workers=workers, env={bare_insert.DATABASE_URL_VARIABLE: url}, log=log
    )
    try:
        yield server.start("/rows")
    finally:
        server.stop()
        bare_insert.drop_table(engine)


def run(args: argparse.Namespace, say: Callable[[str], None] = print) -> list[Row]:
    from config import DevelopmentConfig
    from crm import create_app

    url = database_url()
    if url == f"sqlite:///{DEFAULT_SQLITE}":
        DEFAULT_SQLITE.parent.mkdir(exist_ok=True)
    secret_key = secrets.token_urlsafe(48)
    app = create_app(
        DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=secret_key, TWO_FACTOR_REQUIRED_ROLES=""
    )
    rows: list[Row] = []
    log = Path(args.log) if args.log else Path(tempfile.mkdtemp(prefix="bench-http-")) / "gunicorn.log"
    with app.app_context():
        say(f"Database: {db.engine.url.render_as_string(hide_password=True)}; gunicorn output: {log}")
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
        leftovers = remove_posts()
        if leftovers:
            say(f"Removed {leftovers} posts left by an interrupted run.")
        data = benchmark.prepare(
            inquiries=args.inquiries,
            contacts=args.contacts,
            years=args.years,
            reuse=args.reuse,
            seed=args.seed,
            say=say,
        )
        topic_id = db.session.scalar(select(Topic.id).where(Topic.active.is_(True)).order_by(Topic.sort_order).limit(1))
        db.session.commit()
        server = Server("wsgi:app", workers=args.workers, env=server_environment(url, secret_key), log=log)
        try:
            say(f"Serving the app with gunicorn, {args.workers} sync workers...")
            server.start("/healthz")
            rows.append(memory_row("start", server))
            say("Pages:")
            rows += time_pages(app, server, data, args.repeat, args.concurrency, args.only, say)
            rows.append(memory_row("pages", server))
            say(f"Form posts: {args.posts} by {args.concurrency} clients...")
            form = time_form_posts(server, args.posts, args.concurrency, topic_id)
            rows.append(form)
            rows.append(memory_row("form posts", server))
            say(f"Bare inserts: {args.posts} by {args.concurrency} clients...")
            with bare_server(url, args.workers, log) as bare:
                rows.append(time_bare_inserts(bare, args.posts, args.concurrency, topic_id))
                bare_memory = memory_row("bare inserts", bare)
                bare_memory.name = "Bare app's worker RSS"
                bare_memory.ok = True  # for comparison
                rows.append(bare_memory)
            bare_rate = rows[-2].wall_seconds and len(rows[-2].seconds) / rows[-2].wall_seconds
            form_rate = form.wall_seconds and len(form.seconds) / form.wall_seconds
            rows.append(
                Row(
                    name="Form post rate / bare insert rate", value=f"{form_rate / bare_rate:.2f}x" if bare_rate else ""
                )
            )
            say("Mail:")
            db.session.commit()
            rows.append(drain_mail(app, say))
            rows.append(memory_row("mail", server))
        finally:
            server.stop()
            db.session.rollback()
            removed = remove_posts()
            say(f"Removed the {removed} posted inquiries and their emails.")
            db.session.remove()
    say(format_table(rows))
    say(f"Measured {utcnow():%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs; worker RSS target < {MEMORY_LIMIT_MB:g} MB.")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.over_http", description=__doc__.splitlines()[0])
    parser.add_argument("--inquiries", type=int, default=1_000_000, help="inquiries to generate (default 1,000,000)")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to generate (default 100,000)")
    parser.add_argument("--years", type=float, default=5, help="years the inquiries are spread over (default 5)")
    parser.add_argument("--reuse", action="store_true", help="keep bench data of the same size from an earlier run")
    parser.add_argument("--seed", type=int, default=20130601, help="random seed (default 20130601)")
    parser.add_argument("--repeat", type=int, default=40, help="requests per page (default 40)")
    parser.add_argument("--posts", type=int, default=500, help="form posts, and bare inserts (default 500)")
    parser.add_argument("--concurrency", type=int, default=4, help="clients at once (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--only", default="", help="time only the pages whose name contains this text")
    parser.add_argument("--log", default="", help="where gunicorn's output goes (default: a temporary file)")
    args = parser.parse_args(argv)
    if (
        min(args.inquiries, args.contacts, args.repeat, args.posts, args.concurrency, args.workers) < 1
        or args.years <= 0
    ):
        parser.error(
            "--inquiries, --contacts, --repeat, --posts, --concurrency, --workers and --years must be positive"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rows = run(args)
    except benchmark.ForeignData as error:
        print(f"Refusing to run: {error}", file=sys.stderr)  # noqa: T201
        return 2
    failed = [row.name for row in rows if not row.ok and not row.name.startswith("Worker RSS")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
