"""Rebuild crm/geography/zip_places.tsv.gz, the ZIP table crm.geography.zip_lookup reads, from
the `zipcodes` package (a development dependency):

    python -m crm.geography.build_zip_places

One line per ZIP the package knows, inactive ones included, sorted: the ZIP, city, state and
county of the package's first record for it, separated by tabs. tests/unit/test_zip_lookup.py
checks that the table and the package agree on every ZIP.
"""

from __future__ import annotations

import gzip
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "zip_places.tsv.gz"
FIELDS = ("zip_code", "city", "state", "county")


def table_lines() -> list[str]:
    import zipcodes

    first: dict[str, dict] = {}
    for record in zipcodes.list_all():  # a ZIP's first record is the one zipcodes.matching gives first
        first.setdefault(record["zip_code"], record)
    lines = []
    for zip5 in sorted(first):
        values = [first[zip5].get(name) or "" for name in FIELDS]
        if any("\t" in value or "\n" in value for value in values):
            raise ValueError(f"ZIP {zip5}: a tab or a line break in {values}")
        lines.append("\t".join(values))
    return lines


def main() -> None:
    lines = table_lines()
    # mtime=0: the same package version always gives the same bytes.
    with TABLE.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(("\n".join(lines) + "\n").encode())
    print(f"{TABLE}: {len(lines)} ZIPs")  # noqa: T201


if __name__ == "__main__":
    main()
