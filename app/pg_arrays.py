"""PostgreSQL statements that take whole columns as arrays, sent in psycopg's binary format.

Dispatch plans, confirms and meters thousands of rows as one statement each, with one array per column
(`unnest`), so that the statement's text stays the same whatever the number of rows. In the text format
psycopg writes every element of such an array in Python; in the binary format its C code does, several
times faster (figures: docs/benchmarks.md, Outbound dispatch). SQLAlchemy's `text()` has no way to ask
for it, so these statements are written with psycopg's own placeholders: `%(name)b` for an array,
`%(name)s` for a single value.
"""

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam
from sqlalchemy.engine import CursorResult

from app.extensions import db


def execute_columns(sql: str, params: dict) -> CursorResult:
    """Run `sql` with psycopg placeholders on the session's connection (its transaction, its clinic)."""
    return db.session.connection().exec_driver_sql(sql, params)


def one_of(column: ColumnElement, ids: list[int]) -> ColumnElement:
    """`column IN ids` as `column = ANY(:ids)`, one array parameter: an IN list of 500 values is 500
    parameters, a statement text of its own for every length, compiled and converted again each time."""
    return column == any_(bindparam(None, ids, type_=ARRAY(Integer)))
