"""Floors for the load benchmark: each staff page's rows read by one raw SQL query and
rendered by a minimal template, and a join/leave written by one raw statement.

Served only by `bench/urls.py`, which `bench/load.py` selects for its own gunicorn through
DJANGO_ROOT_URLCONF; a normal deployment never routes here. The views run behind the same
middleware as the pages (sessions, CSRF, messages...) and, as issue 3 defines a floor
("a minimal staff-only view"), answer staff only: the session and the user are read as on
every staff page. What a page costs above its floor is the ORM, the permission checks and
the page's own template.
"""

import functools
from pathlib import Path

from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.template import Context, Engine
from django.views.decorators.http import require_GET, require_POST

# The project's template engine does not look in bench/: a private one, cached loader.
ENGINE = Engine(dirs=[Path(__file__).resolve().parent / "templates"])
# The pages' sizes (heroes.views), plus one row to tell whether there is a next page.
HEROES_PER_PAGE = 50
ROWS_PER_SECTION = 20
TEAMS_SHOWN = 20
GRID_HEROES = 20
GRID_TEAMS = 8


def staff_only(view):
    """Answer 403 to anyone but staff (no login redirect, no permission checks)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            return HttpResponseForbidden("Staff only.")
        return view(request, *args, **kwargs)

    return wrapper


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _render(name: str, context: dict) -> HttpResponse:
    return HttpResponse(ENGINE.get_template(f"bench/{name}").render(Context(context)))


def _memberships() -> str:
    """A hero's teams as one string, ', '-separated, "(training)" where it applies."""
    name = "t2.name || CASE WHEN l.is_training THEN ' (training)' ELSE '' END"
    if connection.vendor == "postgresql":
        return f"STRING_AGG({name}, ', ' ORDER BY t2.name)"
    return f"GROUP_CONCAT({name}, ', ')"


@require_GET
@staff_only
def hero_list(request):
    """`/heroes/` and `/heroes/?after=N`: 50 heroes from N on, with team and memberships."""
    rows = _rows(
        f"""SELECT h.id, h.name, h.secret_name, h.age, t.id, t.name,
                   (SELECT {_memberships()} FROM heroteamlink l
                    JOIN team t2 ON t2.id = l.team_id WHERE l.hero_id = h.id)
            FROM hero h LEFT JOIN team t ON t.id = h.team_id
            WHERE h.id > %s ORDER BY h.id LIMIT %s""",
        [int(request.GET.get("after", 0)), HEROES_PER_PAGE + 1],
    )
    return _render("hero_list.html", {"rows": rows[:HEROES_PER_PAGE]})


# Rows of several kinds in one query: (kind, id, name, text, number, flag, date). Inside a
# subquery PostgreSQL types a bare NULL as text, hence the casts.
NO_TEXT, NO_NUMBER = "CAST(NULL AS TEXT)", "CAST(NULL AS INTEGER)"
NO_FLAG, NO_DATE = "CAST(NULL AS BOOLEAN)", "CAST(NULL AS TIMESTAMP WITH TIME ZONE)"
HERO_DETAIL = f"""
    SELECT 'hero', h.id, h.name, h.secret_name, h.age, {NO_FLAG}, {NO_DATE}
    FROM hero h WHERE h.id = %s
    UNION ALL
    SELECT 'team', t.id, t.name, {NO_TEXT}, {NO_NUMBER}, {NO_FLAG}, {NO_DATE}
    FROM hero h JOIN team t ON t.id = h.team_id WHERE h.id = %s
    UNION ALL
    SELECT * FROM (
        SELECT 'member', t.id, t.name, {NO_TEXT}, {NO_NUMBER}, l.is_training, l.created_at
        FROM heroteamlink l JOIN team t ON t.id = l.team_id WHERE l.hero_id = %s
        ORDER BY t.name
    ) AS memberships
    UNION ALL
    SELECT * FROM (
        SELECT 'choice', t.id, t.name, {NO_TEXT}, {NO_NUMBER},
               EXISTS (SELECT 1 FROM heroteamlink l WHERE l.hero_id = %s AND l.team_id = t.id),
               {NO_DATE}
        FROM team t ORDER BY t.name LIMIT %s
    ) AS choices"""


@require_GET
@staff_only
def hero_detail(request, pk):
    """`/heroes/<id>/`: the hero, its team, its memberships and the first teams by name."""
    kinds = {"hero": [], "team": [], "member": [], "choice": []}
    for row in _rows(HERO_DETAIL, [pk, pk, pk, pk, TEAMS_SHOWN + 1]):
        kinds[row[0]].append(row)
    return _render("hero_detail.html", kinds)


TEAM_DETAIL = f"""
    SELECT 'team', t.id, t.name, t.headquarters, {NO_NUMBER}, {NO_FLAG}, {NO_DATE}
    FROM team t WHERE t.id = %s
    UNION ALL
    SELECT * FROM (
        SELECT 'hero', h.id, h.name, h.secret_name, h.age, {NO_FLAG}, {NO_DATE}
        FROM hero h WHERE h.team_id = %s ORDER BY h.id LIMIT %s
    ) AS heroes
    UNION ALL
    SELECT * FROM (
        SELECT 'member', h.id, h.name, {NO_TEXT}, {NO_NUMBER}, l.is_training, l.created_at
        FROM heroteamlink l JOIN hero h ON h.id = l.hero_id WHERE l.team_id = %s
        ORDER BY l.hero_id LIMIT %s
    ) AS members"""


@require_GET
@staff_only
def team_detail(request, pk):
    """`/teams/<id>/`: the team, its first 20 heroes (FK) and first 20 members (M2M)."""
    kinds = {"team": [], "hero": [], "member": []}
    for row in _rows(TEAM_DETAIL, [pk, pk, ROWS_PER_SECTION + 1, pk, ROWS_PER_SECTION + 1]):
        kinds[row[0]].append(row)
    return _render("team_detail.html", kinds)


@require_GET
@staff_only
def membership_grid(request):
    """`/memberships/`: the first 20 heroes by id x the first 8 teams by name, one cell each."""
    cells = _rows(
        """WITH heroes AS (SELECT id, name FROM hero ORDER BY id LIMIT %s),
                teams AS (SELECT id, name FROM team ORDER BY name LIMIT %s)
           SELECT heroes.id, heroes.name, teams.id, teams.name, l.id IS NOT NULL, l.is_training
           FROM heroes CROSS JOIN teams
           LEFT JOIN heroteamlink l ON l.hero_id = heroes.id AND l.team_id = teams.id
           ORDER BY heroes.id, teams.name""",
        [GRID_HEROES, GRID_TEAMS],
    )
    return _render("membership_grid.html", {"cells": cells, "teams": cells[:GRID_TEAMS]})


@require_POST
@staff_only
def membership(request, pk=None):
    """POST join/leave (`action`) of `team` for the hero in the URL or in `hero`: one
    INSERT ... ON CONFLICT DO NOTHING or one DELETE in a transaction, then a redirect."""
    hero = pk if pk is not None else int(request.POST["hero"])
    team = int(request.POST["team"])
    with transaction.atomic(), connection.cursor() as cursor:
        if request.POST["action"] == "join":
            cursor.execute(
                "INSERT INTO heroteamlink (hero_id, team_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                [hero, team],
            )
        else:
            cursor.execute(
                "DELETE FROM heroteamlink WHERE hero_id = %s AND team_id = %s", [hero, team]
            )
    return HttpResponseRedirect(f"/heroes/{hero}/")
