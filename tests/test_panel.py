"""The SQL panel: a change's statements carried to the next page, shown once."""

import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.test import RequestFactory

from heroes import services
from heroes.models import Hero, Team
from heroes.panel import COOKIE, SESSION_KEY, SQLPanelMiddleware, remember_sql, sql_panel


def carried(remember) -> tuple:
    """(the response of a request whose view calls `remember(request)`, that request)."""
    request = RequestFactory().post("/")
    request.session = SessionStore()

    def view(request):
        remember(request)
        return HttpResponse(status=302)

    return SQLPanelMiddleware(view)(request), request


def next_request(response, session=None):
    request = RequestFactory().get("/")
    request.COOKIES = {name: morsel.value for name, morsel in response.cookies.items()}
    request.session = session or SessionStore()
    return request


def test_remembered_statements_ride_in_a_cookie_and_are_shown_once(spider_boy, preventers):
    result = services.assign_team(hero=spider_boy, team=preventers)

    response, request = carried(lambda request: remember_sql(request, result.statements))
    assert response.cookies[COOKIE]["httponly"]
    assert SESSION_KEY not in request.session

    page = next_request(response)
    panel = sql_panel(page)["sql_panel"]
    update = next(s for s in panel["statements"] if s["verb"] == "UPDATE")
    assert update["sql"] == 'UPDATE "hero"\nSET "team_id" = %s\nWHERE "hero"."id" = %s'
    assert update["timing"].endswith("] (1, 3)")
    # Shown: the page's response deletes the cookie.
    shown = SQLPanelMiddleware(lambda request: HttpResponse())(page)
    assert shown.cookies[COOKIE].value == ""
    assert shown.cookies[COOKIE]["max-age"] == 0


def test_statements_too_long_for_a_cookie_go_in_the_session(spider_boy, preventers):
    result = services.assign_team(hero=spider_boy, team=preventers)
    long = [*result.statements] * 200

    response, request = carried(lambda request: remember_sql(request, long))

    assert COOKIE not in response.cookies
    page = next_request(response, request.session)
    assert len(sql_panel(page)["sql_panel"]["statements"]) == len(long)
    assert SESSION_KEY not in page.session
    assert sql_panel(page) == {"sql_panel": None}


def test_a_tampered_cookie_shows_nothing():
    request = RequestFactory().get("/")
    request.COOKIES = {COOKIE: "forged:value"}
    request.session = SessionStore()

    assert sql_panel(request) == {"sql_panel": None}


@pytest.mark.django_db
def test_the_page_after_a_change_writes_no_session(admin_client, django_assert_num_queries):
    team = Team.objects.create(name="Preventers", headquarters="Sharp Tower")
    hero = Hero.objects.create(name="Rusty-Man", secret_name="Tommy Sharp")
    admin_client.post(f"/heroes/{hero.pk}/team/", {"team": team.pk, "expected_team": ""})

    # session, user, teams: reads only
    with django_assert_num_queries(3):
        response = admin_client.get("/teams/?q=zzz")
    assert "UPDATE &quot;hero&quot;" in response.content.decode()
    assert admin_client.cookies[COOKIE].value == ""


def test_the_panel_escapes_sql_and_lists_every_statement(spider_boy, z_force):
    result = services.join_team(hero=spider_boy, team=z_force)
    response, _ = carried(lambda request: remember_sql(request, result.statements))

    html = render_to_string("heroes/_sql_panel.html", sql_panel(next_request(response)))

    assert "INSERT INTO &quot;heroteamlink&quot;" in html
    assert html.count('<li class="sql-statement') == len(result.statements)
    assert "(3, 2, False)" in html
