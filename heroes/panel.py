"""Carry the SQL of a change to the page after it (post/redirect/get) and show it there once."""

import re
from collections.abc import Iterable

from .sql import Statement, format_sql

SESSION_KEY = "heroes_sql_panel"
TIMING = re.compile(r"^\[\d+(?:\.\d+)?s\] ")


def panel_data(statements: Iterable[Statement]) -> dict:
    """What the SQL panel shows of `statements`: JSON-safe, for the session or a page."""
    statements = list(statements)
    return {
        "statements": [{"sql": s.pretty, "timing": s.timing, "verb": s.verb} for s in statements],
        "duration_ms": round(sum(s.duration for s in statements) * 1000, 2),
    }


def remember_sql(request, statements: Iterable[Statement]) -> None:
    """Keep a change's statements in the session for the SQL panel of the next page.

    They are kept as the database ran them and formatted only if a page shows them.
    """
    statements = list(statements)
    request.session[SESSION_KEY] = {
        "statements": [{"sql": s.sql, "timing": s.timing, "verb": s.verb} for s in statements],
        "duration_ms": round(sum(s.duration for s in statements) * 1000, 2),
    }


def sql_panel(request) -> dict:
    """Context processor: `sql_panel`, the statements of the change just made, shown once."""
    session = getattr(request, "session", None)
    if session is None:
        return {}
    panel = session.pop(SESSION_KEY, None)
    if panel is not None:
        for statement in panel["statements"]:
            statement["sql"] = format_sql(statement["sql"])
    return {"sql_panel": panel}


def recorded_statements(text: str) -> list[dict]:
    """A change set's recorded SQL (console lines: a statement, then its timing), as the
    panel shows statements: formatted, with their timing."""
    statements = []
    for line in text.splitlines():
        if TIMING.match(line) and statements and statements[-1]["timing"] is None:
            statements[-1]["timing"] = line
        elif line.strip():
            statement = Statement(line)
            statements.append({"sql": statement.pretty, "verb": statement.verb, "timing": None})
    return statements
