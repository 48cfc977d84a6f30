"""Alembic environment (async), shaped after `alembic init -t async`.

Two ways in:
- `Database.upgrade()` / `couplet db …` hand over an open connection in
  `config.attributes["connection"]` (already holding the migration lock);
- the `alembic` command line, where this file opens its own `Database` from
  `sqlalchemy.url` if set, else `DATABASE_URL` from bot.settings.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from bot.storage import Base, Database, load_models

config = context.config
load_models()
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    """Run the migrations on a synchronous connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    """`sqlalchemy.url` when set programmatically, else the configured DATABASE_URL."""
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    # Through the CLI's loader, so a bad setting is named in one sentence.
    from bot.cli.startup import EXIT_BAD_SETTING, load_settings

    settings = load_settings()
    if settings is None:
        raise SystemExit(EXIT_BAD_SETTING)
    return settings.database_url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open the database the bot would use and migrate it under the migration lock."""
    db = Database(database_url())
    try:
        async with db.migration_connection() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await db.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    # Only the alembic command line configures logging from the ini file; the
    # bot has its own logging set up already.
    if config.config_file_name is not None and "connection" not in config.attributes:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    run_migrations_online()
