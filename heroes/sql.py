"""See the SQL the ORM runs: one capture on `connection.execute_wrapper` for logs, pages and tests.

`capture()` records each statement with its parameters and duration; `change()` runs a
connection change in one transaction and reports its BEGIN and COMMIT (or ROLLBACK);
`echo_to()` prints everything, the way SQLAlchemy's `echo=True` console does. The
logger `heroes.sql` gets every statement of every change at INFO, with DEBUG on or off.
"""

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter

import sqlparse
from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger("heroes.sql")

WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE"})


@dataclass(frozen=True)
class Statement:
    """One statement as the database received it; `params` is None for BEGIN/COMMIT/ROLLBACK."""

    sql: str
    params: tuple | None = None
    duration: float = 0.0
    many: bool = False

    @property
    def verb(self) -> str:
        """The statement's first keyword, upper-cased: SELECT, INSERT, COMMIT..."""
        return self.sql.split(None, 1)[0].upper() if self.sql.strip() else ""

    @property
    def one_line(self) -> str:
        """The statement on one line, whitespace collapsed."""
        return " ".join(self.sql.split())

    @property
    def timing(self) -> str | None:
        """`[0.00014s] (1, 3)`: duration and parameters, as the tutorial's console shows them."""
        if self.params is None:
            return None
        if self.many:
            return f"[{self.duration:.5f}s] [{len(self.params)} parameter sets]"
        return f"[{self.duration:.5f}s] {self.params!r}"

    @property
    def pretty(self) -> str:
        """The statement indented for people to read."""
        return format_sql(self.sql)

    def lines(self) -> list[str]:
        """The console lines for this statement: the SQL, then its timing if it has one."""
        return [self.one_line] if self.timing is None else [self.one_line, self.timing]

    def to_json(self) -> dict:
        """A JSON-safe summary (for the session, between a change and the page after it)."""
        return {"sql": self.sql, "timing": self.timing}


@functools.lru_cache(maxsize=2048)
def format_sql(sql: str) -> str:
    """Indent SQL and upper-case its keywords with sqlparse, lists wrapped at 80 columns.

    Cached: a change's statements repeat with other parameters, and sqlparse is slow.
    """
    return sqlparse.format(sql, reindent=True, keyword_case="upper", wrap_after=80)


def log_statement(statement: Statement) -> None:
    """Log a statement to `heroes.sql` at INFO: the SQL line, then its timing line."""
    for line in statement.lines():
        logger.info("%s", line)


class _Recorder:
    """One execute wrapper per thread and database, feeding every capture active there."""

    def __init__(self):
        self.captures: list[list[Statement]] = []
        self.echo = 0
        self.changes = 0

    def __call__(self, execute, sql, params, many, context):
        # SQLite runs an explicit BEGIN and PostgreSQL an implicit one; change()
        # reports BEGIN itself so both backends read alike.
        if sql.lstrip()[:5].upper() == "BEGIN":
            return execute(sql, params, many, context)
        start = perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            params = None if params is None and not many else tuple(params or ())
            self.add(Statement(sql, params, perf_counter() - start, many))

    def add(self, statement: Statement) -> None:
        for statements in self.captures:
            statements.append(statement)
        if self.echo or self.changes:
            log_statement(statement)


_local = threading.local()


def _recorder(using: str) -> _Recorder:
    recorders = _local.__dict__.setdefault("recorders", {})
    if using not in recorders:
        recorders[using] = _Recorder()
    return recorders[using]


@contextmanager
def capture(using: str = DEFAULT_DB_ALIAS, *, echo: bool = False) -> Iterator[list[Statement]]:
    """Record every statement run on `using` in this thread into the yielded list.

    With `echo`, every statement (reads too) is also logged to `heroes.sql`.
    Captures nest: each one sees the statements run while it is open.
    """
    recorder = _recorder(using)
    statements: list[Statement] = []
    recorder.captures.append(statements)
    recorder.echo += echo
    connection = connections[using]
    installed = recorder in connection.execute_wrappers
    try:
        if installed:
            yield statements
        else:
            with connection.execute_wrapper(recorder):
                yield statements
    finally:
        recorder.echo -= echo
        recorder.captures.remove(statements)


@contextmanager
def change(using: str = DEFAULT_DB_ALIAS) -> Iterator[list[Statement]]:
    """Run a connection change atomically, logging its SQL; yield the statements it runs.

    The outermost change reports BEGIN and then COMMIT, or ROLLBACK if it raised; a
    change inside another transaction becomes a savepoint, recorded as such.
    """
    recorder = _recorder(using)
    outermost = not connections[using].in_atomic_block
    atomic = transaction.atomic(using=using)
    with capture(using) as statements:
        recorder.changes += 1
        try:
            start = perf_counter()
            atomic.__enter__()
            if outermost:
                recorder.add(Statement("BEGIN", duration=perf_counter() - start))
            try:
                yield statements
            except BaseException as exc:
                start = perf_counter()
                atomic.__exit__(type(exc), exc, exc.__traceback__)
                if outermost:
                    recorder.add(Statement("ROLLBACK", duration=perf_counter() - start))
                raise
            start = perf_counter()
            try:
                atomic.__exit__(None, None, None)
            except BaseException as exc:
                # The commit itself failed (a deferred constraint, a lost connection):
                # Django rolled back, or the outcome is unknown; never re-run it blindly.
                exc.during_commit = outermost
                if outermost:
                    recorder.add(Statement("ROLLBACK", duration=perf_counter() - start))
                raise
            if outermost:
                recorder.add(Statement("COMMIT", duration=perf_counter() - start))
        finally:
            recorder.changes -= 1


@contextmanager
def echo_to(stream, using: str = DEFAULT_DB_ALIAS) -> Iterator[list[Statement]]:
    """Write every statement this thread runs to `stream`, as lines of `heroes.sql`.

    Used by the management commands' `--sql`; other threads' statements are not shown.
    """
    thread = threading.get_ident()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.INFO)
    handler.addFilter(lambda record: record.thread == thread)
    previous_level = logger.level
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        with capture(using, echo=True) as statements:
            yield statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
