"""Load a large synthetic data set and time the busiest pages.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/backbone_bench python -m bench
    python -m bench --inquiries 20000 --contacts 2000 --repeat 10

Generates (default) 100,000 contacts in 5,000 organisations and 1,000,000 inquiries spread
evenly over the last five years, written with SQLAlchemy Core inserts in batches of
10,000, then requests each page through the test client, signed in as a manager, and
prints the median and 95th-percentile time. --reuse keeps data of the same size from an
earlier run. Times include routing, queries and template rendering, but no network.

The data lives in the database DATABASE_URL names (the development SQLite file when it is
unset): every generated row is marked (references "BX-…", addresses @bench.example.org), a
new run replaces only those rows, and a database holding any other inquiry is refused.
"""
