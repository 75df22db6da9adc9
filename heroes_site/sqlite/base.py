"""Django's SQLite backend, with writers taking the lock as soon as it is free.

The settings use it for every SQLite database (`ENGINE = "heroes_site.sqlite"`).
"""

import sqlite3
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# How long a writer waits between two tries of the write lock.
RETRY_S = 0.001


class DatabaseWrapper(base.DatabaseWrapper):
    """SQLite whose `BEGIN IMMEDIATE` tries again every millisecond until the timeout.

    Writers take the write lock at BEGIN (`transaction_mode` IMMEDIATE). While another
    connection holds it, SQLite's busy handler (what the `timeout` option sets) sleeps
    1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then 100 ms between tries: a change that
    arrives during another's 3 ms transaction often sleeps 50 or 100 ms after the lock
    is free. Python's sqlite3 cannot install another handler, so BEGIN runs with the
    handler off and is tried again here every millisecond, until the same timeout
    (then "database is locked", as before). Every other statement keeps the handler.
    """

    def _start_transaction_under_autocommit(self):
        if self.transaction_mode != "IMMEDIATE":
            return super()._start_transaction_under_autocommit()
        timeout = self.settings_dict["OPTIONS"].get("timeout", 5)
        deadline = time.monotonic() + timeout
        self.connection.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    return super()._start_transaction_under_autocommit()
                except OperationalError as exc:
                    if not _busy(exc) or time.monotonic() >= deadline:
                        raise
                time.sleep(RETRY_S)
        finally:
            self.connection.execute(f"PRAGMA busy_timeout = {round(timeout * 1000)}")


def _busy(exc: OperationalError) -> bool:
    """True if `exc` is SQLite's SQLITE_BUSY: another connection holds the lock."""
    cause = exc.__cause__
    code = getattr(cause, "sqlite_errorcode", None)
    return (
        isinstance(cause, sqlite3.Error) and code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
    )
