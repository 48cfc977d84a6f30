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
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any] | None


class Prepared:
    """A Core INSERT or DELETE whose rows give exactly `keys` (column or bind names)."""

    def __init__(self, statement: UpdateBase, keys: Sequence[str]) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self.returning = bool(statement._returning)
        # (SQL, each positional parameter's key and bind processor), for SQLite
        self._sqlite: tuple[str, list[tuple[str, Processor]]] | None = None

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Run the statement for each row, in order, in `conn`'s transaction; the
        first RETURNING column of each row (nothing without RETURNING)."""
        if not rows:
            return []
        if conn.dialect.name != "sqlite" or conn.dialect.driver != "pysqlite":
            if self.returning:
                return list(conn.scalars(self.statement, list(rows)).all())
            conn.execute(self.statement, list(rows))
            return []
        sql, params = self._compiled(conn.dialect)
        values = [
            tuple(row[key] if process is None else process(row[key]) for key, process in params)
            for row in rows
        ]
        driver = conn.connection.driver_connection
        assert driver is not None
        if not self.returning:
            driver.executemany(sql, values)
            return []
        # sqlite3's executemany takes no RETURNING: one row at a time, each read
        # to the end (a statement still running would block the commit).
        return [driver.execute(sql, value).fetchall()[0][0] for value in values]

    def _compiled(self, dialect: Dialect) -> tuple[str, list[tuple[str, Processor]]]:
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(self.keys))
            order = list(compiled.positiontup or ())
            if sorted(order) != sorted(self.keys):
                raise ValueError(f"{self.statement} binds {order}, not {list(self.keys)}")
            params: list[tuple[str, Processor]] = [
                (key, compiled.binds[key].type.dialect_impl(dialect).bind_processor(dialect))
                for key in order
            ]
            self._sqlite = (compiled.string, params)
        return self._sqlite
