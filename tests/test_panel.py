"""The SQL panel: a change's statements carried to the next page, shown once."""

from django.template.loader import render_to_string

from heroes import services
from heroes.panel import SESSION_KEY, remember_sql, sql_panel


class FakeRequest:
    def __init__(self):
        from django.contrib.sessions.backends.signed_cookies import SessionStore

        self.session = SessionStore()


def test_remembered_statements_are_shown_once(spider_boy, preventers):
    request = FakeRequest()
    result = services.assign_team(hero=spider_boy, team=preventers)

    remember_sql(request, result.statements)
    panel = sql_panel(request)["sql_panel"]

    update = next(s for s in panel["statements"] if s["verb"] == "UPDATE")
    assert update["sql"] == 'UPDATE "hero"\nSET "team_id" = %s\nWHERE "hero"."id" = %s'
    assert update["timing"].endswith("] (1, 3)")
    assert SESSION_KEY not in request.session
    assert sql_panel(request) == {"sql_panel": None}


def test_the_panel_escapes_sql_and_lists_every_statement(spider_boy, z_force):
    request = FakeRequest()
    result = services.join_team(hero=spider_boy, team=z_force)
    remember_sql(request, result.statements)

    html = render_to_string("heroes/_sql_panel.html", sql_panel(request))

    assert "INSERT INTO &quot;heroteamlink&quot;" in html
    assert html.count('<li class="sql-statement') == len(result.statements)
    assert "(3, 2, False)" in html
