"""PostgreSQL array literals for `unnest(%s::numeric[])` statements over thousands of rows: psycopg
adapting thousands of Decimals one by one was a tenth of a settlement batch."""

from __future__ import annotations


def numeric_array(values) -> str:
    """str() of a Decimal or an int is a valid numeric literal; None is NULL."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def text_array(values) -> str:
    """Only the code's own enum values and reasons: no quotes or backslashes to escape."""
    return "{" + ",".join(f'"{v}"' for v in values) + "}"


def bool_array(values) -> str:
    return "{" + ",".join("t" if v else "f" for v in values) + "}"
