"""The few writes every interaction makes, sent straight to SQLite's driver.

Through SQLAlchemy's `Connection.execute` a small INSERT or DELETE costs
several times what SQLite itself spends on it: the statement cache lookup,
building and processing the parameters, wrapping the result, and an
expanding `IN (…)` rendered anew each time. A job's add and removal and a
generation's insert are on every `/complete`'s path, so `Prepared` compiles
such a Core statement once for SQLite, keeps each parameter's bind processor
(the JSON and datetime conversions SQLAlchemy itself applies, so the rows are
the same bytes), and runs it on the driver's connection inside the
Connection's transaction. On any other database the statement goes through
the Connection as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert, UpdateBase

Processor = Callable[[Any], Any] | None
# Rows per multi-row INSERT: SQLite builds before 3.32 take at most 999 parameters.
MAX_PARAMETERS = 999


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: list[tuple[str, Processor]]  # each positional parameter's key and processor
    # An INSERT's SQL around its one VALUES group, for a statement of many rows.
    head: str = ""
    group: str = ""
    tail: str = ""

    def many(self, count: int) -> str:
        return self.head + ", ".join([self.group] * count) + self.tail

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row's positional parameters, each through its bind processor."""
        return tuple(
            row[key] if process is None else process(row[key]) for key, process in self.params
        )


class Prepared:
    """A Core INSERT, UPDATE or DELETE whose rows give exactly `keys` (column or bind
    names).

    An INSERT … RETURNING must return only the table's integer primary key, which
    SQLite assigns: rows written by one statement get increasing ids in the order
    of its VALUES, and SQLite does not promise RETURNING's order, so the ids are
    sorted to match."""

    def __init__(self, statement: UpdateBase, keys: Sequence[str]) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self.returning = bool(statement._returning)
        self.insert = isinstance(statement, Insert)
        if self.returning:
            table = statement.table
            primary = list(table.primary_key.columns)  # type: ignore[attr-defined]
            assigned = len(primary) == 1 and primary[0].name not in self.keys
            returned = list(statement._returning)
            only_key = assigned and len(returned) == 1 and returned[0] is primary[0]
            if not (self.insert and only_key):
                raise ValueError(f"{statement}: RETURNING only an INSERT's new primary key")
        self._sqlite: _Compiled | None = None

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Write the rows in `conn`'s transaction; the new primary keys, in the rows'
        order, with RETURNING (nothing without)."""
        if not rows:
            return []
        if conn.dialect.name != "sqlite" or conn.dialect.driver != "pysqlite":
            if self.returning:
                return list(conn.scalars(self.statement, list(rows)).all())
            conn.execute(self.statement, list(rows))
            return []
        compiled = self._compiled(conn.dialect)
        values = [compiled.values(row) for row in rows]
        driver = _driver(conn)
        if not self.insert:
            driver.executemany(compiled.sql, values)
            return []
        # An INSERT of many rows is one statement (per MAX_PARAMETERS): each
        # statement is one step of SQLite's, one hand-over of the GIL when the
        # writer thread runs it beside the event loop.
        ids: list[Any] = []
        per = max(1, MAX_PARAMETERS // len(compiled.params))
        for start in range(0, len(values), per):
            chunk = values[start : start + per]
            sql = compiled.sql if len(chunk) == 1 else compiled.many(len(chunk))
            cursor = driver.execute(sql, [value for row in chunk for value in row])
            if self.returning:
                # read to the end: a statement still running would block the commit
                ids.extend(sorted(found[0] for found in cursor.fetchall()))
        return ids

    def each(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """An UPDATE or DELETE run once per row in `conn`'s transaction: how many rows
        each run changed."""
        if self.insert:
            raise ValueError(f"{self.statement}: each() is for an UPDATE or a DELETE")
        if conn.dialect.name != "sqlite" or conn.dialect.driver != "pysqlite":
            return [conn.execute(self.statement, dict(row)).rowcount for row in rows]
        compiled = self._compiled(conn.dialect)
        driver = _driver(conn)
        return [driver.execute(compiled.sql, compiled.values(row)).rowcount for row in rows]

    def _compiled(self, dialect: Dialect) -> _Compiled:
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(self.keys))
            order = list(compiled.positiontup or ())
            if sorted(order) != sorted(self.keys):
                raise ValueError(f"{self.statement} binds {order}, not {list(self.keys)}")
            params: list[tuple[str, Processor]] = [
                (key, compiled.binds[key].type.dialect_impl(dialect).bind_processor(dialect))
                for key in order
            ]
            sql = compiled.string
            if not self.insert:
                self._sqlite = _Compiled(sql, params)
            else:
                start = sql.index(" VALUES (") + len(" VALUES ")
                end = sql.index(")", start) + 1
                self._sqlite = _Compiled(sql, params, sql[:start], sql[start:end], sql[end:])
        return self._sqlite


def _driver(conn: Connection) -> Any:
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver
