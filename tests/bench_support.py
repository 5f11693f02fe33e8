"""Reading the table a benchmark prints (bench.over_http.format_table), for the tests that run one."""

from __future__ import annotations

import re


def table_row(output: str, name: str) -> list[str]:
    """The cells of the row named `name`, which must be there once; empty cells leave no gap,
    so count from the end for the columns after one that may be empty."""
    lines = [line for line in output.splitlines() if re.match(re.escape(name) + r"\s{2,}", line)]
    assert len(lines) == 1, f"{name!r} not once in:\n{output}"
    return re.split(r"\s{2,}", lines[0].strip())
