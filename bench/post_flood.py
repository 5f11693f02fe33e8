"""`python -m bench.post_flood`: the Get in Touch post under gunicorn, against a bare insert,
at a steady rate and while a bot farm floods it.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/backbone_bench python -m bench.post_flood

The database must hold the demo's topics, routing rules and fallback contact (`flask crm
seed-demo`, or a `python -m bench` data set with them). Four phases, one table:
1. as many form posts as --concurrency clients can make in turn (the form's capacity), and as
   many posts to a bare Flask + SQLAlchemy endpoint inserting one row (bench.bare_insert), both
   under gunicorn with --workers sync workers on the same database, in three turns each;
2. posts sent at half the form's capacity, each when its time comes whether or not the one
   before was answered (an open loop, as families arrive): median, p95, p99;
3. one family at a time posting while --bots clients post as fast as they can, each post from
   an address of its own (X-Forwarded-For behind one trusted proxy), so no per-address limit
   stops them; half of the bots' posts fill in the honeypot. The family's latency is the figure.
   This phase's server has the routing budget (--routing-budget, config.py's by default;
   crm.public.admission); the others route every post. Afterwards the held posts are filed
   here as the job runner files them, and the inquiries counted against the posts thanked.

Mail is held. The posts are made with addresses @post.bench.example.org and removed at the end.
--app-root serves the app from another checkout (an earlier version, for a before and after).
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import over_http
from bench.over_http import Row, Server, bare_server, form_fields, format_table, server_environment

STEADY_SECONDS = 20
FLOOD_SECONDS = 30
FAMILY_EVERY_SECONDS = 0.5
ROUNDS = 3


def _tokens(client) -> dict[str, str]:
    page = client.get("/get-in-touch").text
    tokens = {"rendered": over_http.RENDERED_RE.search(page).group(1)}
    csrf = over_http.CSRF_RE.search(page)
    if csrf:
        tokens["csrf_token"] = csrf.group(1)
    return tokens


def _address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"  # noqa: S311


def _poster(base_url: str, topic_id: int, *, spam_share: float = 0.0):
    """A client of its own (cookies, tokens) and a function that posts the form once, from a
    new address; returns (status, seconds)."""
    import httpx

    client = httpx.Client(base_url=base_url, timeout=over_http.REQUEST_TIMEOUT, follow_redirects=False)
    tokens = _tokens(client)

    def post(number: int) -> tuple[int, float]:
        fields = {**form_fields(number, topic_id), **tokens}
        if random.random() < spam_share:  # noqa: S311
            fields["website"] = "http://cheap-pills.example"
        began = time.perf_counter()
        try:
            status = client.post("/get-in-touch", data=fields, headers={"X-Forwarded-For": _address()}).status_code
        except httpx.HTTPError:
            status = 599
        return status, time.perf_counter() - began

    return client, post


def paced(base_url: str, topic_id: int, rate: float, seconds: float, name: str) -> Row:
    """Posts started every 1/rate seconds for `seconds`, each on a client of its own from a pool."""
    count = max(1, int(rate * seconds))
    posters = [_poster(base_url, topic_id) for _ in range(16)]
    free = list(range(len(posters)))
    lock = threading.Lock()
    row = Row(name=name)
    statuses: list[int] = []

    def one(number: int) -> None:
        with lock:
            index = free.pop()
        status, took = posters[index][1](number)
        with lock:
            free.append(index)
            statuses.append(status)
            row.seconds.append(took)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(posters)) as pool:
        for number in range(count):
            delay = began + number / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, 10_000_000 + number)
    row.wall_seconds = time.perf_counter() - began
    row.statuses = tuple(statuses)
    row.ok = set(statuses) == {302}
    for client, _post in posters:
        client.close()
    return row


def flood(base_url: str, topic_id: int, bots: int, seconds: float) -> tuple[Row, Row]:
    """(the family's posts, the bots' posts) while `bots` clients post without pause."""
    stop = threading.Event()
    bot_row, family_row = Row(name=f"Bots' posts ({bots} clients, half honeypot)"), Row(name="A family's post during the flood")
    lock = threading.Lock()
    counter = iter(range(20_000_000, 30_000_000))

    def bot() -> None:
        client, post = _poster(base_url, topic_id, spam_share=0.5)
        statuses = []
        while not stop.is_set():
            with lock:
                number = next(counter)
            status, took = post(number)
            statuses.append(status)
            with lock:
                bot_row.seconds.append(took)
        with lock:
            bot_row.statuses += tuple(statuses)
        client.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=bot, daemon=True) for _ in range(bots)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # the flood under way
    client, post = _poster(base_url, topic_id)
    statuses = []
    number = 30_000_000
    while time.perf_counter() - began < seconds:
        number += 1
        status, took = post(number)
        statuses.append(status)
        family_row.seconds.append(took)
        time.sleep(FAMILY_EVERY_SECONDS)
    family_row.wall_seconds = None
    family_row.statuses = tuple(statuses)
    family_row.ok = set(statuses) == {302}
    stop.set()
    for thread in threads:
        thread.join()
    bot_row.wall_seconds = time.perf_counter() - began
    client.close()
    return family_row, bot_row


def _capacities(server: Server, bare: Server, topic_id: int, posts: int, concurrency: int) -> tuple[Row, Row]:
    """The form's and the bare insert's capacity, measured in turns (ROUNDS of each), so that
    the rest of the machine's load weighs on both alike."""

    def post(client, number: int, tokens: dict[str, str]) -> int:
        fields = {**form_fields(number, topic_id), **tokens}
        return client.post("/get-in-touch", data=fields, headers={"X-Forwarded-For": _address()}).status_code

    form, bare_row = Row(name="Form post, capacity"), Row(name="Bare insert, capacity")
    for _round in range(ROUNDS):
        for total, part in (
            (form, over_http.hammer(server.url, post, posts // ROUNDS, concurrency, prepare=_tokens)),
            (bare_row, over_http.time_bare_inserts(bare, posts // ROUNDS, concurrency, topic_id)),
        ):
            total.seconds += part.seconds
            total.statuses += part.statuses
            total.wall_seconds = (total.wall_seconds or 0) + part.wall_seconds
    form.ok = set(form.statuses) == {302}
    bare_row.ok = set(bare_row.statuses) == {201}
    return form, bare_row


# The flood's posts by their numbers (form_fields names each "Bench Family <number>"): the bots'
# are 20,000,000 and up, the family's 30,000,000 and up.
BOT_NAMES, FAMILY_NAMES = "Bench Family 2_______", "Bench Family 3_______"


def flood_outcome(names: str) -> tuple[int, int, int]:
    """Of the posts whose names match: (routed at once, held as spam, held within the form's
    rules), as stored when the flood ends."""
    from sqlalchemy import func, select

    from crm.extensions import db
    from crm.models import HeldPost, Inquiry

    routed = db.session.scalar(select(func.count()).select_from(Inquiry).where(Inquiry.name.like(names)))
    held = db.session.execute(
        select(HeldPost.spam_reason, func.count()).where(HeldPost.name.like(names)).group_by(HeldPost.spam_reason)
    ).all()
    spam = sum(count for reason, count in held if reason)
    return routed, spam, sum(count for _reason, count in held) - spam


def file_after_flood() -> tuple[int, float, int]:
    """What the job runner does next, here in this process: file every held post; (filed,
    seconds, inquiries the flood's posts make in the end)."""
    from sqlalchemy import func, or_, select

    from crm.extensions import db
    from crm.inquiries.held_posts import file_held_posts
    from crm.models import Inquiry

    filed, began = 0, time.perf_counter()
    while (done := file_held_posts()[0]) > 0:
        filed += done
    took = time.perf_counter() - began
    stored = db.session.scalar(
        select(func.count())
        .select_from(Inquiry)
        .where(or_(Inquiry.name.like(BOT_NAMES), Inquiry.name.like(FAMILY_NAMES)))
    )
    db.session.commit()
    return filed, took, stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.post_flood", description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=400, help="posts for each capacity measure (default 400)")
    parser.add_argument("--concurrency", type=int, default=4, help="clients for the capacity measures (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--bots", type=int, default=8, help="flooding clients (default 8)")
    parser.add_argument("--seconds", type=float, default=STEADY_SECONDS, help="seconds of the steady phase (default 20)")
    parser.add_argument("--flood-seconds", type=float, default=FLOOD_SECONDS, help="seconds of the flood (default 30)")
    parser.add_argument("--app-root", type=Path, default=None, help="serve the app from this checkout")
    parser.add_argument(
        "--routing-budget",
        default=None,
        help="PUBLIC_FORM_ROUTING_BUDGET during the flood (default: config.py's); the other phases route every post",
    )
    args = parser.parse_args(argv)

    from sqlalchemy import select

    from config import Config, DevelopmentConfig
    from crm import create_app
    from crm.extensions import db
    from crm.models import Topic

    url = over_http.database_url()
    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url)
    log = Path(f"/tmp/post_flood_{secrets.token_hex(3)}.log")  # noqa: S108
    rows: list[Row] = []
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(over_http.ROOT / "migrations"))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.active.is_(True)).order_by(Topic.sort_order))
        over_http.remove_posts()
        environment = {
            **server_environment(url, secrets.token_urlsafe(48)),
            # The form's own per-address limits stay on; the bots come from many addresses.
            "PUBLIC_FORM_RATE_LIMIT": "5 per minute; 30 per hour",
            "PUBLIC_FORM_REFUSED_RATE_LIMIT": "30 per minute; 300 per hour",
            "TRUSTED_PROXY_COUNT": "1",
        }
        budget = Config.PUBLIC_FORM_ROUTING_BUDGET if args.routing_budget is None else args.routing_budget

        def serve(budget: str) -> Server:
            if args.app_root is not None:
                over_http.ROOT = args.app_root.resolve()
            server = Server("wsgi:app", workers=args.workers, env={**environment, "PUBLIC_FORM_ROUTING_BUDGET": budget}, log=log)
            try:
                server.start("/get-in-touch")
            finally:
                over_http.ROOT = Path(over_http.__file__).resolve().parent.parent
            return server

        # The capacity and the steady rate are those of the routed post: no budget holds any.
        server = serve("")
        try:
            with bare_server(url, args.workers, log) as bare:
                form, bare_row = _capacities(server, bare, topic_id, args.posts, args.concurrency)
            rows += [form, bare_row]
            capacity = len(form.seconds) / form.wall_seconds
            form.value = f"{capacity / (len(bare_row.seconds) / bare_row.wall_seconds):.2f}x bare"
            rows.append(paced(server.url, topic_id, capacity / 2, args.seconds, "Form post at half capacity"))
        finally:
            server.stop()
        server = serve(budget)
        try:
            family, bots = flood(server.url, topic_id, args.bots, args.flood_seconds)
            rows += [family, bots]
        finally:
            server.stop()
        outcomes = {who: flood_outcome(names) for who, names in (("the bots' posts", BOT_NAMES), ("the family's posts", FAMILY_NAMES))}
        answered = sum(1 for status in (*family.statuses, *bots.statuses) if status == 302)
        filed, filing_seconds, stored = file_after_flood()
        removed = over_http.remove_posts()
    print(format_table(rows))  # noqa: T201
    print(f"Flood with PUBLIC_FORM_ROUTING_BUDGET={budget!r}:")  # noqa: T201
    for who, (routed, spam, held) in outcomes.items():
        print(f"  {who}: {routed} routed at once, {held} held, {spam} held as spam")  # noqa: T201
    print(  # noqa: T201
        f"  held posts filed afterwards as the job runner files them: {filed} in {filing_seconds:.1f} s; "
        f"{answered} posts thanked, {stored} inquiries stored from them"
    )
    print(f"({removed} posted inquiries removed; gunicorn log {log})")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
