"""A fixture's rows built once per test process, then copied back in for every test that asks for them.

Most tests start from the same two clinics and their people (`two_tenants`): built through the ORM that costs a
quarter of a second a test (nine users, two clinics with their hours, a closure, an invitation), about a fifth of
the whole suite's time. Built once into an empty database, the rows of every table and the sequences' positions are
read out (`COPY … TO STDOUT`, as the owner); for every later test that starts from an empty database they are put
back (`COPY … FROM STDIN`) with the triggers off, as the per-test clean-up empties tables, since the triggers'
own rows are among those copied. Ids come out the same, as the sequences are set to where the build left them.

Only from an empty database: a test whose other fixtures wrote first gets the world built as before, so what a
test sees never depends on the cache.
"""

import copy
from dataclasses import dataclass

from tests.infra.postgres import used_tables_and_sequences


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, bytes]
    sequences: dict[str, tuple[int, bool]]
    value: object


_SNAPSHOTS: dict[str, Snapshot] = {}


def cached_world(key: str, owner_engine, build):
    """`build()`'s value; its rows copied in from this process's snapshot when the database is empty."""
    if not _database_is_empty(owner_engine):
        return build()
    snapshot = _SNAPSHOTS.get(key)
    if snapshot is None:
        value = build()
        _SNAPSHOTS[key] = _take(owner_engine, value)
        return value
    _restore(owner_engine, snapshot)
    return copy.deepcopy(snapshot.value)


def _database_is_empty(owner_engine) -> bool:
    with owner_engine.begin() as conn:
        tables, sequences = used_tables_and_sequences(conn)
    return not tables and not sequences


def _take(owner_engine, value) -> Snapshot:
    with owner_engine.begin() as conn:
        tables, sequence_names = used_tables_and_sequences(conn)
    raw = owner_engine.raw_connection()
    try:
        with raw.driver_connection.transaction(), raw.driver_connection.cursor() as cursor:
            cursor.execute("SET LOCAL app.all_tenants = 'on'")  # the owner's maintenance switch (RLS is forced)
            rows = {}
            for table in tables:
                with cursor.copy(f"COPY {table} TO STDOUT") as out:  # names from the catalog
                    rows[table] = b"".join(bytes(chunk) for chunk in out)
            sequences = {}
            for name in sequence_names:
                cursor.execute(f"SELECT last_value, is_called FROM {name}")  # noqa: S608 - names from the catalog
                sequences[name] = cursor.fetchone()
    finally:
        raw.close()
    return Snapshot(rows, sequences, copy.deepcopy(value))


def _restore(owner_engine, snapshot: Snapshot) -> None:
    raw = owner_engine.raw_connection()
    try:
        with raw.driver_connection.transaction(), raw.driver_connection.cursor() as cursor:
            cursor.execute("SET LOCAL app.all_tenants = 'on'")
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table, data in snapshot.tables.items():
                with cursor.copy(f"COPY {table} FROM STDIN") as into:
                    into.write(data)
            for name, (last_value, is_called) in snapshot.sequences.items():
                cursor.execute("SELECT setval(%s, %s, %s)", (name, last_value, is_called))
    finally:
        raw.close()
