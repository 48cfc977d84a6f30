"""Database fixtures for the storage tests (a real PostgreSQL and SQLite files)."""

from tests.support.postgres import db, db_url, postgres_cluster, postgres_url

__all__ = ["db", "db_url", "postgres_cluster", "postgres_url"]
