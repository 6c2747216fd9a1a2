"""A database of one test's own for the processes it starts (gunicorn, workers), never the one
pytest-django creates: on the PostgreSQL server of DATABASE_URL when it points there (CI), else a
SQLite file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def scratch_database(suffix: str, sqlite_file: Path) -> tuple[str, Callable[[], None]]:
    """The URL of a new, empty database named `<DATABASE_URL's name>_<suffix>`, and how to drop it.

    A database of that name left by an interrupted run is dropped first.
    """
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgres"):
        return f"sqlite:///{sqlite_file}", lambda: None
    import psycopg2

    base, _, configured_name = configured.rpartition("/")
    name = f"{configured_name or 'tidecast'}_{suffix}"
    admin = psycopg2.connect(f"{base}/postgres", connect_timeout=10)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"{base}/{name}", drop
