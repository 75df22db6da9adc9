"""History on the staff pages: the hero's and team's sections, the change pages, reverting."""

import datetime
import html
import re
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from heroes import history, services
from heroes.models import ChangeSet, Hero
from tests.test_views import (
    TUTORIAL_LINKS,
    as_text,
    links,
    messages_of,
    panel_sql,
    rows,
    team_id,
    text,
)

NO_HERO = "That hero does not exist: it may have been deleted."
NEEDS_HISTORY = "You need the permission heroes.view_changeset to see the history of changes."
UTC = datetime.UTC


@pytest.fixture
def login(client, django_user_model):
    """A factory: `login("view_changeset", ...)` logs a staff user with those permissions in."""

    def login_(*codenames, is_staff=True):
        user = django_user_model.objects.create(username="sam", is_staff=is_staff)
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="heroes", codename__in=codenames)
        )
        client.force_login(user)
        return client

    return login_


def from_command(service, **arguments):
    """Run a service as the command line would, as alice on ops-1: its change set."""
    with history.attributed(actor="alice@ops-1", source=ChangeSet.Source.COMMAND):
        return service(**arguments).change_set


def state():
    return (
        list(Hero.objects.order_by("pk").values_list("pk", "team_id")),
        links(),
        ChangeSet.objects.count(),
    )


def history_rows(response) -> list[str]:
    """The rows of the page's History section, as text."""
    section = re.search(r'<section id="history".*?</section>', response.content.decode(), re.S)
    body = re.search(r"<tbody>(.*?)</tbody>", section[0], re.S) if section else None
    return [as_text(row) for row in re.findall(r"<tr>(.*?)</tr>", body[1], re.S)] if body else []


def toggles(hero, team, count):
    """`count` change sets of `hero` joining and leaving `team` in turn: their ids, oldest first."""
    return [from_command(services.toggle_membership, hero=hero, team=team).pk for _ in range(count)]


def revert(client, change, **data):
    return client.post(f"/changes/{change.pk}/revert/", data, follow=True)


# The hero's and the team's history -------------------------------------------------------


def test_a_change_from_a_staff_page_is_recorded_as_the_users_and_shown_in_the_history(
    login, tutorial
):
    client = login("change_hero", "view_changeset")

    page = client.post(
        "/heroes/3/team/", {"team": 1, "expected_team": "", "next": "/heroes/3/"}, follow=True
    )

    change = ChangeSet.objects.get()
    assert (change.user.username, change.actor, change.source) == ("sam", "sam", "page")
    assert change.get_source_display() == "Staff pages"
    assert history_rows(page) == [
        f"#{change.pk} {change.created_at:%Y-%m-%d %H:%M} sam Staff pages"
        f" Spider-Boy is now in Preventers. team no team → Preventers Revert change #{change.pk}"
    ]
    content = page.content.decode()
    assert f'<time datetime="{change.created_at.isoformat()}">' in content
    assert f'<a href="/changes/{change.pk}/">#{change.pk}</a>' in content


def test_hero_history_shows_its_own_change_sets_newest_first(
    admin_client, spider_boy, rusty_man, preventers, z_force
):
    joined = from_command(services.join_team, hero=spider_boy, team=z_force)
    from_command(services.assign_team, hero=rusty_man, team=z_force)  # another hero's
    moved = from_command(services.assign_team, hero=spider_boy, team=preventers)

    response = admin_client.get("/heroes/3/")

    assert [row.split(" Revert")[0] for row in history_rows(response)] == [
        f"#{moved.pk} {moved.created_at:%Y-%m-%d %H:%M} alice@ops-1 Command line"
        " Spider-Boy is now in Preventers. team no team → Preventers",
        f"#{joined.pk} {joined.created_at:%Y-%m-%d %H:%M} alice@ops-1 Command line"
        " Spider-Boy joined Z-Force. Z-Force: not a member → member",
    ]


def test_a_hero_without_changes_says_so(admin_client, tutorial):
    assert "No changes of Spider-Boy recorded yet." in text(admin_client.get("/heroes/3/"))


def test_hero_history_pages_ten_at_a_time_by_key(admin_client, spider_boy, z_force):
    ids = toggles(spider_boy, z_force, 25)[::-1]  # newest first

    first = admin_client.get("/heroes/3/")
    assert [row.split()[0] for row in history_rows(first)] == [f"#{pk}" for pk in ids[:10]]
    assert f'href="/heroes/3/?changes_after={ids[9]}#history" rel="next"' in (
        first.content.decode()
    )
    assert "Older changes" in text(first)
    assert "Newer changes" not in text(first)

    second = admin_client.get(f"/heroes/3/?changes_after={ids[9]}")
    assert [row.split()[0] for row in history_rows(second)] == [f"#{pk}" for pk in ids[10:20]]
    content = second.content.decode()
    assert f'href="/heroes/3/?changes_before={ids[10]}#history" rel="prev"' in content
    assert 'href="/heroes/3/#history">Newest changes</a>' in content

    last = admin_client.get(f"/heroes/3/?changes_after={ids[19]}")
    assert [row.split()[0] for row in history_rows(last)] == [f"#{pk}" for pk in ids[20:]]
    assert "Older changes" not in text(last)

    back = admin_client.get(f"/heroes/3/?changes_before={ids[10]}")
    assert history_rows(back) == history_rows(first)


def test_a_bulk_change_is_reverted_for_the_hero_with_a_link_to_the_whole_change(
    admin_client, tutorial, z_force
):
    bulk = from_command(services.bulk_assign_team, heroes=Hero.objects.all(), team=z_force)

    response = admin_client.get("/heroes/3/")

    assert history_rows(response) == [
        f"#{bulk.pk} {bulk.created_at:%Y-%m-%d %H:%M} alice@ops-1 Command line"
        " 2 heroes assigned to Z-Force, 1 already was. team no team → Z-Force"
        f" Revert change #{bulk.pk} for Spider-Boy All 2 heroes of change #{bulk.pk}"
    ]
    form = re.search(r'<form method="post" action="/changes/\d+/revert/">.*?</form>',
                     response.content.decode(), re.S)[0]  # fmt: skip
    assert '<input type="hidden" name="hero" value="3">' in form
    assert f'href="/changes/{bulk.pk}/"' in response.content.decode()


def test_team_history_shows_its_memberships_and_heroes_moved_in_or_out(
    admin_client, spider_boy, deadpond, preventers, z_force
):
    joined = from_command(services.join_team, hero=spider_boy, team=z_force)
    cleared = from_command(services.clear_team, hero=deadpond)  # out of Z-Force
    from_command(services.leave_team, hero=deadpond, team=preventers)  # not Z-Force's

    response = admin_client.get("/teams/2/")

    assert history_rows(response) == [
        f"#{cleared.pk} {cleared.created_at:%Y-%m-%d %H:%M} alice@ops-1 Command line"
        f" Deadpond is no longer in Z-Force. Revert change #{cleared.pk}",
        f"#{joined.pk} {joined.created_at:%Y-%m-%d %H:%M} alice@ops-1 Command line"
        f" Spider-Boy joined Z-Force. Revert change #{joined.pk}",
    ]


def test_team_history_pages_by_key(admin_client, spider_boy, z_force):
    ids = toggles(spider_boy, z_force, 12)[::-1]

    first = admin_client.get("/teams/2/")
    assert [row.split()[0] for row in history_rows(first)] == [f"#{pk}" for pk in ids[:10]]
    second = admin_client.get(f"/teams/2/?changes_after={ids[9]}")
    assert [row.split()[0] for row in history_rows(second)] == [f"#{pk}" for pk in ids[10:]]
    assert "Newest changes" in text(second)


def test_history_shows_revert_buttons_only_to_those_who_may_revert(
    login, spider_boy, preventers, z_force
):
    assigned = from_command(services.assign_team, hero=spider_boy, team=preventers)
    joined = from_command(services.join_team, hero=spider_boy, team=z_force)
    client = login("view_changeset", "delete_heroteamlink")

    found = history_rows(client.get("/heroes/3/"))

    assert found[0].endswith(f"Revert change #{joined.pk}")
    assert found[1].endswith("no permission to revert")
    assert f"Revert change #{assigned.pk}" not in text(client.get("/teams/1/"))


@pytest.mark.parametrize("url", ["/heroes/3/", "/teams/1/"])
def test_staff_without_view_changeset_see_no_history(login, spider_boy, preventers, url):
    from_command(services.assign_team, hero=spider_boy, team=preventers)
    client = login("change_hero")

    response = client.get(url)

    assert response.status_code == 200
    assert 'id="history"' not in response.content.decode()
    assert 'href="/changes/"' not in response.content.decode()  # nor the link in the menu


def test_the_menu_links_to_the_history_for_those_who_may_see_it(admin_client, tutorial):
    response = admin_client.get("/changes/")

    assert '<a href="/changes/" aria-current="page">History</a>' in response.content.decode()


@pytest.mark.parametrize("url", ["/heroes/3/?changes_after=x", "/teams/1/?changes_before=1.5"])
def test_a_malformed_history_cursor_is_a_bad_request(admin_client, tutorial, url):
    assert admin_client.get(url).status_code == 400


# The change page and the list of changes ---------------------------------------------------


def test_the_change_page_shows_the_change_in_full(admin_client, spider_boy, preventers):
    change = from_command(services.assign_team, hero=spider_boy, team=preventers)

    response = admin_client.get(f"/changes/{change.pk}/")

    page = text(response)
    assert f"Change #{change.pk}: Assign team" in page
    assert (
        "What Spider-Boy is now in Preventers."
        f" When {change.created_at:%Y-%m-%d %H:%M:%S} UTC Who alice@ops-1 From Command line"
        " Team Preventers Heroes changed 1 Reverted by not reverted"
    ) in page
    assert rows(response) == ["Spider-Boy team no team → Preventers"]
    content = response.content.decode()
    statements = [
        (" ".join(html.unescape(sql).split()), timing)
        for sql, timing in re.findall(
            r'<li class="sql-\w+">\s*<pre><code>(.*?)</code></pre>\s*'
            r'(?:<p class="sql-timing">(.*?)</p>)?',
            content,
            re.S,
        )
    ]
    update = 'UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s'
    assert [timing.split("] ")[1] for sql, timing in statements if sql == update] == [
        f"(1, {spider_boy.pk})"  # the parameters, after the duration
    ]
    assert f'<button type="submit" class="danger">Revert change #{change.pk}</button>' in content


def test_the_change_page_links_what_it_reverts_and_what_reverted_it(
    admin_client, spider_boy, preventers
):
    original = from_command(services.assign_team, hero=spider_boy, team=preventers)
    undo = from_command(services.revert_change_set, change_set=original)

    original_page = text(admin_client.get(f"/changes/{original.pk}/"))
    undo_page = text(admin_client.get(f"/changes/{undo.pk}/"))

    assert f"Reverted by Change #{undo.pk}: Reverted change #{original.pk}" in original_page
    assert f"Reverts Change #{original.pk}: Spider-Boy is now in Preventers." in undo_page
    assert "team Preventers → no team" in undo_page


def test_the_change_page_pages_through_the_entries_of_a_bulk_change(
    admin_client, tutorial, z_force, many_heroes
):
    heroes = many_heroes(120)
    change = from_command(services.bulk_join_team, heroes=heroes, team=z_force)
    entries = list(change.entries.order_by("pk").values_list("pk", flat=True))

    first = admin_client.get(f"/changes/{change.pk}/")
    assert len(rows(first)) == 50
    assert rows(first)[0] == (
        f"Extra-0 Z-Force: not a member → member Revert change #{change.pk} for Extra-0"
    )
    assert f'href="/changes/{change.pk}/?after={entries[49]}" rel="next"' in (
        first.content.decode()
    )
    last = admin_client.get(f"/changes/{change.pk}/?after={entries[99]}")
    assert len(rows(last)) == 20
    assert "Next heroes" not in text(last)
    assert "Previous heroes" in text(last)


def test_the_list_shows_every_change_newest_first_and_pages_by_key(
    admin_client, spider_boy, z_force
):
    ids = toggles(spider_boy, z_force, 60)[::-1]

    first = admin_client.get("/changes/")
    assert [row.split()[0] for row in rows(first)] == [f"#{pk}" for pk in ids[:50]]
    assert rows(first)[0].endswith("alice@ops-1 Command line Spider-Boy left Z-Force. 1")
    assert f'href="/changes/?after={ids[49]}" rel="next"' in first.content.decode()

    second = admin_client.get(f"/changes/?after={ids[49]}")
    assert [row.split()[0] for row in rows(second)] == [f"#{pk}" for pk in ids[50:]]


@pytest.fixture
def three_changes(tutorial, spider_boy, rusty_man, z_force, django_user_model):
    """A change from the command line (Jan 10), one from the pages (Jan 20), one from the admin."""
    sam = django_user_model.objects.create_user("sam", is_staff=True)
    command = from_command(services.join_team, hero=spider_boy, team=z_force)
    with history.attributed(user=sam, source=ChangeSet.Source.PAGE):
        page = services.assign_team(hero=rusty_man, team=z_force).change_set
    with history.attributed(user=sam, source=ChangeSet.Source.ADMIN):
        admin = services.clear_team(hero=rusty_man).change_set
    for change, day in [(command, 10), (page, 20), (admin, 31)]:
        when = datetime.datetime(2026, 1, day, 23, 30, tzinfo=UTC)
        ChangeSet.objects.filter(pk=change.pk).update(created_at=when)
    return command, page, admin


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("", ["admin", "page", "command"]),
        ("source=page", ["page"]),
        ("source=command", ["command"]),
        ("user=SAM", ["admin", "page"]),
        ("user=alice", ["command"]),  # the OS user of a command
        ("user=alice@ops-1", ["command"]),
        ("user=al", []),
        ("date_from=2026-01-20", ["admin", "page"]),
        ("date_to=2026-01-20", ["page", "command"]),  # the whole day
        ("date_from=2026-01-11&date_to=2026-01-30", ["page"]),
        ("source=admin&user=sam&date_from=2026-01-31&date_to=2026-01-31", ["admin"]),
        ("date_from=0001-01-01&date_to=9999-12-31", ["admin", "page", "command"]),
        ("user=%25&source=", []),
    ],
)
def test_the_list_filters_by_source_user_and_dates(admin_client, three_changes, query, found):
    by_id = {change.pk: change.source for change in three_changes}

    response = admin_client.get(f"/changes/?{query}")

    assert response.status_code == 200
    assert [by_id[int(row.split()[0][1:])] for row in rows(response)] == found
    if not found:
        assert "No change matches the filters." in text(response)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("date_from=yesterday", "Since: Enter a valid date."),
        (
            "date_from=2026-02-01&date_to=2026-01-01",
            "Until: The end date is before the start date.",
        ),
        ("source=moon", "From: Select a valid choice. moon is not one of the available choices."),
    ],
)
def test_the_list_says_when_a_filter_is_wrong(admin_client, three_changes, query, error):
    response = admin_client.get(f"/changes/?{query}")

    assert response.status_code == 200
    assert error in text(response)
    assert rows(response) == []


def test_the_list_keeps_the_filters_in_its_page_links(admin_client, spider_boy, z_force):
    ids = toggles(spider_boy, z_force, 55)[::-1]

    response = admin_client.get("/changes/?source=command&user=alice")

    assert f'href="/changes/?source=command&amp;user=alice&amp;after={ids[49]}"' in (
        response.content.decode()
    )


# Reverting ---------------------------------------------------------------------------------


def test_reverting_through_the_button_puts_it_back_with_a_message_and_the_sql(
    login, spider_boy, preventers
):
    original = from_command(services.assign_team, hero=spider_boy, team=preventers)
    client = login("view_changeset", "change_hero")

    response = revert(client, original, next="/heroes/3/?team_q=z")

    assert response.redirect_chain == [("/heroes/3/?team_q=z", 302)]
    assert messages_of(response) == [
        ("success", f"Reverted change #{original.pk} (Spider-Boy is now in Preventers).")
    ]
    assert any(s.startswith('UPDATE "hero" SET "team_id" =') for s in panel_sql(response))
    assert team_id(3) is None
    undo = ChangeSet.objects.get(reverts=original)
    assert (undo.operation, undo.actor, undo.source) == ("revert", "sam", "page")
    assert history_rows(response)[0].startswith(f"#{undo.pk} ")


def test_a_revert_comes_back_to_the_change_page_without_a_next(admin_client, spider_boy, z_force):
    original = from_command(services.join_team, hero=spider_boy, team=z_force)

    response = revert(admin_client, original, next="https://evil.example/")

    assert response.redirect_chain == [(f"/changes/{original.pk}/", 302)]
    assert links() == TUTORIAL_LINKS


def test_a_bulk_change_is_reverted_for_one_hero(admin_client, tutorial, z_force):
    bulk = from_command(services.bulk_assign_team, heroes=Hero.objects.all(), team=z_force)

    response = revert(admin_client, bulk, hero=3, next="/heroes/3/")

    assert messages_of(response) == [
        (
            "success",
            f"Reverted change #{bulk.pk} for Spider-Boy (2 heroes assigned to Z-Force,"
            " 1 already was).",
        )
    ]
    assert [team_id(pk) for pk in (1, 2, 3)] == [2, 2, None]


def test_a_whole_bulk_change_is_reverted_from_its_page(admin_client, tutorial, z_force):
    bulk = from_command(services.bulk_assign_team, heroes=Hero.objects.all(), team=z_force)

    response = revert(admin_client, bulk, next=f"/changes/{bulk.pk}/")

    assert messages_of(response)[0][0] == "success"
    assert [team_id(pk) for pk in (1, 2, 3)] == [2, 1, None]
    assert f"Reverted by Change #{bulk.pk + 1}" in text(response)


def test_a_revert_refused_because_the_data_moved_says_why_and_changes_nothing(
    admin_client, spider_boy, preventers, z_force
):
    original = from_command(services.assign_team, hero=spider_boy, team=preventers)
    from_command(services.assign_team, hero=spider_boy, team=z_force)
    before = state()

    response = revert(admin_client, original, next="/heroes/3/")

    assert response.status_code == 200
    assert messages_of(response) == [
        (
            "error",
            f"Change #{original.pk} cannot be reverted: the data has changed since."
            " Spider-Boy: team is now Z-Force, not Preventers.",
        )
    ]
    assert panel_sql(response) == []
    assert state() == before


# Who may revert ------------------------------------------------------------------------------

ADD, DELETE = "heroes.add_heroteamlink", "heroes.delete_heroteamlink"


@pytest.mark.parametrize(
    ("change", "granted", "missing"),
    [
        (
            lambda t: services.assign_team(hero=t.spider_boy, team=t.preventers),
            [ADD, DELETE],
            "the permission heroes.change_hero",
        ),
        (
            lambda t: services.join_team(hero=t.spider_boy, team=t.z_force),
            [ADD, "heroes.change_hero"],
            "the permission heroes.delete_heroteamlink",
        ),
        (
            lambda t: services.leave_team(hero=t.spider_boy, team=t.preventers),
            [DELETE],
            "the permission heroes.add_heroteamlink",
        ),
        (
            lambda t: services.toggle_membership(hero=t.spider_boy, team=t.z_force),
            [ADD],
            "the permission heroes.delete_heroteamlink",
        ),
        (
            lambda t: services.set_training(hero=t.spider_boy, team=t.preventers, training=False),
            [ADD, DELETE],
            "the permission heroes.change_heroteamlink",
        ),
        (
            lambda t: services.revert_change_set(
                change_set=services.assign_team(hero=t.spider_boy, team=t.z_force).change_set
            ),
            ["heroes.change_hero"],
            "the permissions heroes.add_heroteamlink and heroes.delete_heroteamlink",
        ),
    ],
)
def test_staff_without_the_permissions_of_the_operation_get_a_403_and_nothing_changes(
    login, spider_boy, preventers, z_force, change, granted, missing
):
    tutorial = SimpleNamespace(spider_boy=spider_boy, preventers=preventers, z_force=z_force)
    original = change(tutorial).change_set
    client = login("view_changeset", *(permission.split(".")[1] for permission in granted))
    before = state()

    response = client.post(f"/changes/{original.pk}/revert/")

    assert response.status_code == 403
    assert f"You need {missing} to revert change #{original.pk}." in text(response)
    assert state() == before


def test_staff_with_the_permissions_of_the_operation_revert_it(login, spider_boy, z_force):
    original = from_command(services.join_team, hero=spider_boy, team=z_force)
    client = login("view_changeset", "delete_heroteamlink")

    response = revert(client, original)

    assert messages_of(response)[0][0] == "success"
    assert links() == TUTORIAL_LINKS


def test_anonymous_users_are_asked_to_log_in_and_nothing_changes(client, spider_boy, z_force):
    original = from_command(services.join_team, hero=spider_boy, team=z_force)

    response = client.post(f"/changes/{original.pk}/revert/", {"next": "/heroes/3/"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/heroes/3/"
    assert client.get("/changes/")["Location"] == "/accounts/login/?next=/changes/"
    assert (3, 2, False) in links()


@pytest.mark.parametrize("method", ["get", "post"])
def test_users_who_are_not_staff_get_a_403(login, spider_boy, z_force, method):
    original = from_command(services.join_team, hero=spider_boy, team=z_force)
    client = login("view_changeset", "delete_heroteamlink", is_staff=False)

    url = f"/changes/{original.pk}/revert/" if method == "post" else "/changes/"
    assert getattr(client, method)(url).status_code == 403
    assert (3, 2, False) in links()


@pytest.mark.parametrize("url", ["/changes/", "/changes/1/", "/changes/1/revert/"])
def test_staff_without_view_changeset_get_a_403_that_says_why(login, spider_boy, z_force, url):
    from_command(services.join_team, hero=spider_boy, team=z_force)
    client = login("add_heroteamlink", "delete_heroteamlink")

    response = client.post(url) if url.endswith("revert/") else client.get(url)

    assert response.status_code == 403
    assert NEEDS_HISTORY in text(response)
    assert (3, 2, False) in links()


def test_csrf_is_enforced_on_reverts(spider_boy, z_force, django_user_model):
    original = from_command(services.join_team, hero=spider_boy, team=z_force)
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", None))

    refused = client.post(f"/changes/{original.pk}/revert/")
    assert refused.status_code == 403
    assert (3, 2, False) in links()

    page = client.get(f"/changes/{original.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    accepted = client.post(f"/changes/{original.pk}/revert/", {"csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert links() == TUTORIAL_LINKS


# Bad input -------------------------------------------------------------------------------------


def test_get_never_reverts(admin_client, spider_boy, z_force):
    original = from_command(services.join_team, hero=spider_boy, team=z_force)

    assert admin_client.get(f"/changes/{original.pk}/revert/").status_code == 405
    assert admin_client.post("/changes/").status_code == 405
    assert admin_client.post(f"/changes/{original.pk}/").status_code == 405
    assert (3, 2, False) in links()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/changes/999/"),
        ("get", "/changes/abc/"),
        ("get", "/changes/99999999999999999999999/"),
        ("post", "/changes/999/revert/"),
        ("post", "/changes/99999999999999999999999/revert/"),
    ],
)
def test_unknown_changes_are_not_found(admin_client, tutorial, method, url):
    response = getattr(admin_client, method)(url)

    assert response.status_code == 404
    assert "There is nothing at this address" in text(response)


@pytest.mark.parametrize(
    ("hero", "error"),
    [
        ("abc", NO_HERO),
        ("99999999999999999999999", NO_HERO),
        ("42", NO_HERO),
        ("2", "Change #{pk} has nothing about Rusty-Man to revert."),
    ],
)
def test_a_bad_hero_is_reported_and_changes_nothing(admin_client, spider_boy, z_force, hero, error):
    original = from_command(services.join_team, hero=spider_boy, team=z_force)
    before = state()

    response = revert(admin_client, original, hero=hero, next="/heroes/3/")

    assert response.status_code == 200
    assert messages_of(response) == [("error", error.format(pk=original.pk))]
    assert state() == before


@pytest.mark.parametrize("query", ["after=x", "before=99999999999999999999999"])
def test_a_malformed_cursor_of_the_change_pages_is_a_bad_request(admin_client, tutorial, query):
    assert admin_client.get(f"/changes/?{query}").status_code == 400


# Query counts ----------------------------------------------------------------------------------


@pytest.fixture(params=[3, 60])
def change_sets(request, spider_boy, z_force):
    """Spider-Boy joining and leaving Z-Force: 3 change sets, or 60."""
    return toggles(spider_boy, z_force, request.param)


@pytest.mark.parametrize(
    ("url", "queries"),
    [
        # session, user, then the page's own reads
        ("/heroes/3/", 5),  # hero with team and memberships, teams, history
        ("/heroes/3/?changes_after={middle}", 5),
        ("/teams/2/", 5),  # team with its heroes, members, history
        ("/teams/2/?changes_before={middle}", 5),
        ("/changes/", 3),  # change sets
        ("/changes/?source=command&user=alice&date_from=2000-01-01&after={middle}", 3),
        ("/changes/{middle}/", 5),  # change set with its team, reverted by, entries
    ],
)
def test_history_pages_run_a_fixed_number_of_queries_whatever_the_size(
    admin_client, change_sets, django_assert_num_queries, url, queries
):
    url = url.format(middle=change_sets[len(change_sets) // 2])

    with django_assert_num_queries(queries):
        response = admin_client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("size", [10, 1000])
def test_the_change_page_runs_a_fixed_number_of_queries_whatever_the_entries(
    admin_client, tutorial, z_force, many_heroes, django_assert_num_queries, size
):
    change = from_command(services.bulk_join_team, heroes=many_heroes(size), team=z_force)
    undo = from_command(services.revert_change_set, change_set=change)
    middle = change.entries.order_by("pk").values_list("pk", flat=True)[size // 2]

    for url in [f"/changes/{change.pk}/", f"/changes/{undo.pk}/?after={middle}"]:
        with django_assert_num_queries(5):
            response = admin_client.get(url)
        assert response.status_code == 200


def test_staff_permissions_add_no_query_to_the_history_pages(
    login, change_sets, django_assert_num_queries
):
    client = login("view_changeset", "add_heroteamlink", "delete_heroteamlink")

    # The permissions come with the user (heroes.auth): the superuser's counts.
    for url, queries in [("/heroes/3/", 5), ("/teams/2/", 5), ("/changes/", 3)]:
        with django_assert_num_queries(queries):
            client.get(url)
