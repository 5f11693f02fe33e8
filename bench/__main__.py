"""`python -m bench`: the command line of the benchmark described in bench/__init__.py."""

from __future__ import annotations

import argparse
import os
import sys

import bench
from bench.benchmark import MIN_SAMPLES, ForeignData, run
from crm.extensions import db


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=bench.__doc__.splitlines()[0])
    parser.add_argument("--inquiries", type=int, default=1_000_000, help="inquiries to generate (default 1,000,000)")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to generate (default 100,000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--years", type=float, default=5, help="years the inquiries are spread over (default 5)")
    parser.add_argument("--reuse", action="store_true", help="keep bench data of the same size from an earlier run")
    parser.add_argument("--seed", type=int, default=20130601, help="random seed (default 20130601)")
    parser.add_argument("--only", default="", help="time only the pages whose name contains this text")
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help=f"seconds per page before it stops repeating (at least {MIN_SAMPLES} requests; default 30)",
    )
    args = parser.parse_args(argv)
    if args.inquiries < 1 or args.contacts < 1 or args.repeat < 1 or args.years <= 0:
        parser.error("--inquiries, --contacts, --repeat and --years must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    from config import Config, DevelopmentConfig
    from crm import create_app

    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL") or Config.SQLALCHEMY_DATABASE_URI
    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False)
    with app.app_context():
        print(f"Database: {db.engine.url.render_as_string(hide_password=True)}")  # noqa: T201
        try:
            timings = run(
                app,
                inquiries=args.inquiries,
                contacts=args.contacts,
                repeat=args.repeat,
                reuse=args.reuse,
                years=args.years,
                seed=args.seed,
                budget_seconds=args.budget,
                only=args.only,
            )
        except ForeignData as error:
            print(f"Refusing to run: {error}", file=sys.stderr)  # noqa: T201
            return 2
    return 0 if all(timing.ok or not timing.available for timing in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
