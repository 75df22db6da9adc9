"""Error pages: a database that is locked or unreachable answers 503 "try again", not 500."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.views import defaults

RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException | None) -> bool:
    """True for errors that mean "the database cannot serve this now": lost, locked, down."""
    return isinstance(exc, OperationalError | InterfaceError)


def server_error(request):
    """handler500: a 503 page that says to try again when the database was the trouble.

    Whatever the request was doing ran in a transaction that was rolled back (or
    never started), so nothing was half-written. The page renders without the
    database: no session, no user, no context processors.
    """
    if database_unavailable(sys.exc_info()[1]):
        page = loader.get_template("503.html").render({"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)
