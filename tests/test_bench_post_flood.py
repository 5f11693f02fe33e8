"""The flood benchmark (bench.post_flood) runs end to end at a tiny size on a demo database:
the capacities next to the bare insert, the paced posts, the flood under a routing budget of
one send, then the held sends filed. It asserts that what it reports adds up, not how fast."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from bench.over_http import POST_DOMAIN
from config import TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db
from tests.bench_support import table_row

ROOT = Path(__file__).resolve().parent.parent
POSTS = 6  # bench.post_flood measures each capacity in three turns: two posts a turn
BOTS = 2
OUTCOME_RE = re.compile(r"^  (the bots'|the family's) posts: (\d+) routed at once, (\d+) held, (\d+) held as spam$", re.M)
FILED_RE = re.compile(r"filed afterwards as the job runner files them: (\d+) in [\d.]+ s; (\d+) posts thanked, (\d+) inquiries stored")
REMOVED_RE = re.compile(r"^\((\d+) posted inquiries removed;", re.M)


@pytest.fixture
def demo_database(tmp_path: Path) -> Path:
    """A migrated SQLite file with the demo's topics, routing rules and fallback contact, which
    bench.post_flood needs and does not add."""
    path = tmp_path / "flood.sqlite"
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        config.attributes["configure_logger"] = False  # keep pytest's logging
        command.upgrade(config, "head")
        seed_demo("flood bench demo password")
        db.session.remove()
        db.engine.dispose()
    return path


@pytest.mark.slow
def test_the_flood_benchmark_thanks_the_family_and_files_every_held_send(demo_database: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": f"sqlite:///{demo_database}",
        "DATABASE_URL": "",
        # One process's count: the budget lets through one send of the whole flood.
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    arguments = [
        "--posts", str(POSTS), "--concurrency", "2", "--workers", "1", "--bots", str(BOTS),
        "--seconds", "1", "--flood-seconds", "3", "--routing-budget", "1 per hour",
    ]  # fmt: skip

    result = subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "bench.post_flood", *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    form = table_row(output, "Form post, capacity")
    assert (form[1], form[2], form[-1]) == ("302", str(POSTS), "yes"), form
    bare = table_row(output, "Bare insert, capacity")
    assert (bare[1], bare[2], bare[-1]) == ("201", str(POSTS), "yes"), bare
    paced = table_row(output, "Form post at half capacity")
    assert (paced[1], paced[-1]) == ("302", "yes"), paced
    family = table_row(output, "A family's post during the flood")
    assert (family[1], family[-1]) == ("302", "yes"), family
    bots = table_row(output, f"Bots' posts ({BOTS} clients, half honeypot)")
    assert bots[1] == "302", bots
    family_posts, bot_posts = int(family[2]), int(bots[2])
    assert family_posts >= 1
    assert bot_posts >= 1

    outcomes = {who: tuple(map(int, counts)) for who, *counts in OUTCOME_RE.findall(output)}
    assert set(outcomes) == {"the bots'", "the family's"}, output
    family_routed, family_held, family_spam = outcomes["the family's"]
    bots_routed, bots_held, bots_spam = outcomes["the bots'"]
    # Every post thanked is accounted for, the family's never as spam, and the budget of one
    # send routed one at most: the rest were held.
    assert family_routed + family_held == family_posts
    assert family_spam == 0
    assert bots_routed + bots_held + bots_spam == bot_posts
    assert family_routed + bots_routed <= 1
    filed, thanked, stored = map(int, FILED_RE.search(output).groups())
    assert filed == family_held + bots_held + bots_spam > 0
    assert thanked == stored == family_posts + bot_posts
    # What it posted (the capacity's, the paced and the flood's) is removed, and nothing stays held.
    [removed] = REMOVED_RE.findall(output)
    assert int(removed) == POSTS + int(paced[2]) + stored
    with sqlite3.connect(demo_database) as connection:
        for table in ("inquiries", "held_posts"):
            left = connection.execute(f"SELECT count(*) FROM {table} WHERE email LIKE ?", (f"%@{POST_DOMAIN}",))  # noqa: S608  (our table names)
            assert left.fetchone() == (0,), table
