"""Where one Get in Touch post spends its time, in process: `python -m bench.post_profile`.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/backbone_bench python -m bench.post_profile
    python -m bench.post_profile --posts 50 --profile

Posts the form through the test client against the database DATABASE_URL names (which must
hold the demo's routing rules and fallback contact: `flask crm seed-demo`), prints the
statements and the milliseconds each post took (median and 95th percentile, and the median
of this process's own CPU time, which other work on a busy machine disturbs less), and with
--profile the functions that took the most time (cProfile, cumulative). Each post is a new
family (a new email address), so the duplicate check never short-cuts it. The inquiries it
writes are marked "PP-" in their email address and are deleted at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import time

from sqlalchemy import delete, event, select

from crm.extensions import db
from crm.models import Inquiry, InquiryEvent, OutboundEmail, Topic
from crm.reports.stats import percentile

TOKEN_RE = re.compile(r'name="rendered" type="hidden" value="([^"]+)"')
EMAIL_DOMAIN = "post-profile.example.org"


def form_fields(token: str, number: int, topic_id: int, *, spam: bool = False) -> dict[str, str]:
    return {
        "name": f"Profile Family {number}",
        "email": f"family{number}@{EMAIL_DOMAIN}",
        "phone": "",
        "zip_code": "63857",
        "topic": str(topic_id),
        "language": "es" if number % 3 == 0 else "en",
        "message": f"We are expecting a baby (post {number}) and would like to know what help there is nearby.",
        "consent": "y",
        "website": "https://spam.example" if spam else "",
        "rendered": token,
    }


def remove_profile_inquiries() -> None:
    ids = select(Inquiry.id).where(Inquiry.email.like(f"%@{EMAIL_DOMAIN}")).scalar_subquery()
    db.session.execute(delete(OutboundEmail).where(OutboundEmail.inquiry_id.in_(ids)))
    db.session.execute(delete(InquiryEvent).where(InquiryEvent.inquiry_id.in_(ids)))
    db.session.execute(delete(Inquiry).where(Inquiry.email.like(f"%@{EMAIL_DOMAIN}")))
    db.session.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.post_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=30, help="posts to time (default 30)")
    parser.add_argument("--profile", action="store_true", help="print the cProfile of all the posts")
    parser.add_argument("--spam", action="store_true", help="post with the honeypot filled in")
    parser.add_argument("--lines", type=int, default=35, help="profile lines to print (default 35)")
    parser.add_argument("--sort", default="cumulative", help="profile order: cumulative (default) or tottime")
    parser.add_argument("--statements", action="store_true", help="print the statements of the last post")
    args = parser.parse_args(argv)

    from config import Config, DevelopmentConfig
    from crm import create_app

    url = os.environ.get("DATABASE_URL") or Config.SQLALCHEMY_DATABASE_URI
    app = create_app(
        DevelopmentConfig,
        SQLALCHEMY_DATABASE_URI=url,
        RATELIMIT_ENABLED=False,
        PUBLIC_FORM_MIN_SECONDS=0,
        WTF_CSRF_ENABLED=False,
        # Every post routed, as a family's is: the flood's budget would hold most of them.
        PUBLIC_FORM_ROUTING_BUDGET="",
    )
    with app.app_context():
        print(f"Database: {db.engine.url.render_as_string(hide_password=True)}")  # noqa: T201
        print(f"Inquiries in it: {db.session.query(Inquiry.id).count():,}")  # noqa: T201
        topic_id = db.session.scalar(select(Topic.id).where(Topic.active.is_(True)).order_by(Topic.sort_order))
        engine = db.engine
    # Each post in an app context of its own, with a session of its own, as under a server.
    statements = [0]
    last_post: list[str] = []

    def count(_connection, _cursor, statement, *_args, **_kwargs):
        statements[0] += 1
        last_post.append(" ".join(statement.split())[-220:])

    event.listen(engine, "before_cursor_execute", count)
    client = app.test_client()
    token = TOKEN_RE.search(client.get("/get-in-touch").get_data(as_text=True)).group(1)
    run_id = int(time.time())
    # One warm-up post: the first request of a process loads templates and caches.
    client.post("/get-in-touch", data=form_fields(token, run_id * 1000, topic_id, spam=args.spam))
    profiler = cProfile.Profile()
    times, cpu_times, counts = [], [], []
    for number in range(1, args.posts + 1):
        fields = form_fields(token, run_id * 1000 + number, topic_id, spam=args.spam)
        statements[0] = 0
        last_post.clear()
        began, cpu_began = time.perf_counter(), time.process_time()
        if args.profile:
            profiler.enable()
        response = client.post("/get-in-touch", data=fields)
        if args.profile:
            profiler.disable()
        times.append((time.perf_counter() - began) * 1000)
        cpu_times.append((time.process_time() - cpu_began) * 1000)
        counts.append(statements[0])
        if response.status_code != 302:
            print(f"post {number} answered {response.status_code}", file=sys.stderr)  # noqa: T201
            return 1
    event.remove(engine, "before_cursor_execute", count)
    with app.app_context():
        remove_profile_inquiries()
    print(  # noqa: T201
        f"{args.posts} posts{' (spam)' if args.spam else ''}: median {percentile(times, 50):.1f} ms, "
        f"p95 {percentile(times, 95):.1f} ms, {min(counts)}-{max(counts)} statements each; "
        f"this process's CPU median {percentile(cpu_times, 50):.1f} ms"
    )
    if args.statements:
        print("\n".join(last_post))  # noqa: T201
    if args.profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.lines)
        print(out.getvalue())  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
