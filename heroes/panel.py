"""Carry the SQL of a change to the page after it (post/redirect/get) and show it there once.

A change's statements ride to the next page in a signed cookie, as Django's messages do,
so that neither the change nor the page after it writes the session: on PostgreSQL that
write was three of a join's fifteen round trips. Statements too long for a cookie (a bulk
change's id lists) go in the session instead. `SQLPanelMiddleware` writes and clears the
cookie; `sql_panel`, a context processor, reads the panel for the page that shows it.
"""

import re
from collections.abc import Iterable

from django.conf import settings
from django.core import signing

from .sql import Statement, format_sql

SESSION_KEY = "heroes_sql_panel"
COOKIE = "heroes_sql_panel"
SALT = "heroes.panel"
# Browsers keep 4,096 bytes per cookie, its name and attributes included.
MAX_COOKIE_BYTES = 3_500
# A panel not shown within this time (the page after the change never came) is dropped.
MAX_AGE_S = 600
TIMING = re.compile(r"^\[\d+(?:\.\d+)?s\] ")


def panel_data(statements: Iterable[Statement]) -> dict:
    """What the SQL panel shows of `statements`: JSON-safe, for the session or a page."""
    statements = list(statements)
    return {
        "statements": [{"sql": s.pretty, "timing": s.timing, "verb": s.verb} for s in statements],
        "duration_ms": round(sum(s.duration for s in statements) * 1000, 2),
    }


def remember_sql(request, statements: Iterable[Statement]) -> None:
    """Keep a change's statements for the SQL panel of the next page.

    They are kept as the database ran them and formatted only if a page shows them.
    """
    statements = list(statements)
    request.heroes_sql_panel = {
        "statements": [{"sql": s.sql, "timing": s.timing, "verb": s.verb} for s in statements],
        "duration_ms": round(sum(s.duration for s in statements) * 1000, 2),
    }


def sql_panel(request) -> dict:
    """Context processor: `sql_panel`, the statements of the change just made, shown once."""
    panel = None
    if cookie := request.COOKIES.get(COOKIE):
        request.heroes_sql_panel_shown = True  # the middleware deletes the cookie
        try:
            panel = signing.loads(cookie, salt=SALT, max_age=MAX_AGE_S)
        except signing.BadSignature:
            panel = None
    session = getattr(request, "session", None)
    if panel is None and session is not None and SESSION_KEY in session:
        panel = session.pop(SESSION_KEY)
    if panel is not None:
        for statement in panel["statements"]:
            statement["sql"] = format_sql(statement["sql"])
    return {"sql_panel": panel}


class SQLPanelMiddleware:
    """Send the statements a view remembered with its response, and clear a shown panel.

    Placed after SessionMiddleware, so that a panel too long for a cookie is put in the
    session before the session is saved.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        remembered = getattr(request, "heroes_sql_panel", None)
        if remembered is not None:
            value = signing.dumps(remembered, salt=SALT, compress=True)
            if len(value) <= MAX_COOKIE_BYTES:
                response.set_cookie(
                    COOKIE,
                    value,
                    secure=settings.SESSION_COOKIE_SECURE,
                    httponly=True,
                    samesite="Lax",
                )
            else:
                request.session[SESSION_KEY] = remembered
                if COOKIE in request.COOKIES:
                    response.delete_cookie(COOKIE, samesite="Lax")
        elif getattr(request, "heroes_sql_panel_shown", False):
            response.delete_cookie(COOKIE, samesite="Lax")
        return response


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
