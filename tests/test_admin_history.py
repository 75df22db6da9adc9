"""The admin's connection history: change sets and entries, read-only, reverts and permissions."""

import html
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from heroes import history, services
from heroes.admin_history import ENTRIES_SHOWN, MAX_BULK_REVERTS
from heroes.history import revert_permissions
from heroes.models import ChangeSet, Hero, HeroChange, HeroTeamLink, Team

CHANGES = reverse("admin:heroes_changeset_changelist")
ENTRIES = reverse("admin:heroes_herochange_changelist")
HEROES = reverse("admin:heroes_hero_changelist")


def change_url(change_set) -> str:
    return reverse("admin:heroes_changeset_change", args=[getattr(change_set, "pk", change_set)])


def revert_url(change_set) -> str:
    return reverse("admin:heroes_changeset_revert", args=[getattr(change_set, "pk", change_set)])


def text(response) -> str:
    """The page's HTML with runs of whitespace collapsed, for matching across lines."""
    return " ".join(response.content.decode().split())


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def listed(response) -> list[str]:
    """The messages of the change sets on a change list, in order."""
    return [change_set.message for change_set in response.context["cl"].result_list]


def state():
    """Every hero's team and memberships, to show that nothing changed."""
    return (
        sorted(Hero.objects.values_list("pk", "team_id")),
        sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training")),
    )


@pytest.fixture
def warm_caches(db):
    """Fill Django's content type cache, so that pinned query counts do not depend on test order."""
    ContentType.objects.get_for_models(Hero, Team, HeroTeamLink, ChangeSet, HeroChange)


@pytest.fixture
def staff(django_user_model, client):
    """A factory: `staff(*codenames)` logs in a staff user with those heroes permissions."""

    def login(*codenames):
        user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="heroes", codename__in=codenames)
        )
        client.force_login(user)
        return client

    return login


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", is_staff=True)


def as_user(user, change, source=ChangeSet.Source.PAGE):
    """Make `change` (a service call) as `user` through `source`; return its change set."""
    with history.attributed(user=user, source=source):
        return change().change_set


@pytest.fixture
def changes(tutorial, alice, spider_boy, deadpond, preventers, z_force):
    """Three change sets: alice's from the staff pages, a command's, an unattributed one."""
    joined = as_user(alice, lambda: services.join_team(hero=spider_boy, team=z_force))
    call_command("clear_team", "Deadpond", stdout=io.StringIO())
    trained = services.set_training(hero=spider_boy, team=preventers, training=False).change_set
    return {
        "joined": joined,
        "cleared": ChangeSet.objects.get(operation="clear"),
        "trained": trained,
    }


def bulk_toggle(many_heroes, team, count):
    """A bulk change of `count` heroes: they all join `team`."""
    heroes = many_heroes(count)
    return services.bulk_toggle_membership(heroes=heroes, team=team).change_set


# The change list -------------------------------------------------------------------------


def test_the_list_shows_changes_from_every_source_newest_first(admin_client, changes, alice):
    # And one from the admin's own bulk action, attributed to the admin's user.
    admin_client.post(
        HEROES,
        {"action": "assign_team", "_selected_action": ["2", "3"], "team": "2", "post": "yes"},
    )

    response = admin_client.get(CHANGES)

    assert listed(response) == [
        "2 heroes assigned to Z-Force.",
        "Spider-Boy is now a full member of Preventers.",
        "Deadpond is no longer in Z-Force.",
        "Spider-Boy joined Z-Force.",
    ]
    page = text(response)
    latest = ChangeSet.objects.first()
    assert (latest.source, latest.actor, latest.user.username) == ("admin", "admin", "admin")
    for column in ("id", "when", "actor", "source", "operation", "team", "message"):
        assert f"column-{column}" in page
    assert "column-heroes_changed" in page
    assert "column-reverts_or_reverted_by" in page
    assert '<td class="field-actor">admin</td><td class="field-source">Admin</td>' in page
    assert (
        '<td class="field-actor">alice</td><td class="field-source">Staff pages</td>'
        '<td class="field-operation">Join team</td><td class="field-team nowrap">Z-Force</td>'
        '<td class="field-message">Spider-Boy joined Z-Force.</td>'
        '<td class="field-heroes_changed">1</td>'
    ) in page
    assert f'<td class="field-actor">{history.command_line_actor()}</td>' in page
    assert '<td class="field-source">Command line</td>' in page
    assert '<td class="field-source">Other</td>' in page
    assert "4 changes" in page


def test_the_list_links_a_revert_and_what_it_reverts(admin_client, changes):
    original = changes["trained"]
    revert = services.revert_change_set(change_set=original).change_set

    page = text(admin_client.get(CHANGES))

    assert f'reverts <a href="{change_url(original)}">#{original.pk}</a>' in page
    assert f'reverted by <a href="{change_url(revert)}">#{revert.pk}</a>' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"source__exact": "page"}, ["Spider-Boy joined Z-Force."]),
        ({"source__exact": "command"}, ["Deadpond is no longer in Z-Force."]),
        ({"operation__exact": "training"}, ["Spider-Boy is now a full member of Preventers."]),
        ({"hero": "1"}, ["Deadpond is no longer in Z-Force."]),
        ({"team": "1"}, ["Spider-Boy is now a full member of Preventers."]),
        ({"team": "2"}, ["Deadpond is no longer in Z-Force.", "Spider-Boy joined Z-Force."]),
        ({"hero": "2"}, []),
        ({"q": "joined"}, ["Spider-Boy joined Z-Force."]),
        ({"q": "ALI"}, ["Spider-Boy joined Z-Force."]),
    ],
)
def test_filters_and_search(admin_client, changes, query, expected):
    assert listed(admin_client.get(CHANGES, query)) == expected


def test_filter_by_hero_lists_the_heroes_changes(admin_client, changes, spider_boy):
    response = admin_client.get(CHANGES, {"hero": spider_boy.pk})

    assert listed(response) == [
        "Spider-Boy is now a full member of Preventers.",
        "Spider-Boy joined Z-Force.",
    ]
    assert '<li class="selected"> <a href="?hero=3">Spider-Boy (#3)</a></li>' in text(response)


def test_filter_by_user_through_its_search_box(admin_client, changes, alice):
    searched = text(admin_client.get(CHANGES, {"user_q": "ali"}))
    assert '<label for="id_user_q">Find a user by name</label>' in searched
    assert f'<a href="?user={alice.pk}">alice</a>' in searched
    assert "No user matches “nobody”." in text(admin_client.get(CHANGES, {"user_q": "nobody"}))

    response = admin_client.get(CHANGES, {"user": alice.pk})
    assert listed(response) == ["Spider-Boy joined Z-Force."]


def test_hero_and_team_filters_search_instead_of_listing(admin_client, changes):
    unfiltered = text(admin_client.get(CHANGES))
    assert "Spider-Boy (#3)" not in unfiltered
    assert '<label for="id_hero_q">Find a hero by name</label>' in unfiltered
    assert '<label for="id_team_q">Find a team by name</label>' in unfiltered

    by_hero = text(admin_client.get(CHANGES, {"hero_q": "spider"}))
    by_team = text(admin_client.get(CHANGES, {"team_q": "z-f"}))
    assert '<a href="?hero=3">Spider-Boy (#3)</a>' in by_hero
    assert '<a href="?team=2">Z-Force</a>' in by_team


def test_filter_by_date(admin_client, changes):
    old = changes["joined"]
    ChangeSet.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    page = admin_client.get(CHANGES).content.decode()
    link = re.search(r'href="(\?created_at__gte=[^"]+)">\s*Past 7 days', page)[1]

    response = admin_client.get(CHANGES + html.unescape(link))

    assert listed(response) == [
        "Spider-Boy is now a full member of Preventers.",
        "Deadpond is no longer in Z-Force.",
    ]


@pytest.mark.parametrize(
    "query", [{"hero": "abc"}, {"team": "1x"}, {"user": "99999999999999999999"}]
)
def test_a_bad_filter_value_redirects_with_the_admins_error_flag(admin_client, changes, query):
    response = admin_client.get(CHANGES, query)

    assert response.status_code == 302
    assert response["Location"] == f"{CHANGES}?e=1"


def test_hero_and_team_change_forms_link_to_their_connection_history(
    admin_client, changes, spider_boy, z_force
):
    hero_page = text(admin_client.get(reverse("admin:heroes_hero_change", args=[spider_boy.pk])))
    team_page = text(admin_client.get(reverse("admin:heroes_team_change", args=[z_force.pk])))

    assert (
        f'<a href="{CHANGES}?hero=3" class="historylink connection-history-link" '
        'title="History of Spider-Boy’s connections">Connection history</a>'  # noqa: RUF001
    ) in hero_page
    assert f'<a href="{CHANGES}?team=2" class="historylink' in team_page
    # The admin's own history (its log entries) stays.
    assert reverse("admin:heroes_hero_history", args=[spider_boy.pk]) in hero_page


@pytest.mark.parametrize("count", [3, 60])
def test_the_list_runs_the_same_queries_whatever_the_size(
    admin_client, tutorial, warm_caches, django_assert_num_queries, count
):
    for index in range(count):
        hero = Hero.objects.get(pk=index % 3 + 1)
        services.toggle_membership(hero=hero, team=Team.objects.get(pk=2))
    services.revert_change_set(change_set=ChangeSet.objects.first())

    # Session, user, the capped count, the page of change sets (team and latest revert).
    with django_assert_num_queries(4):
        response = admin_client.get(CHANGES)
    assert len(response.context["cl"].result_list) == count + 1
    # The same, and the chosen hero's name for the filter.
    with django_assert_num_queries(5):
        admin_client.get(CHANGES, {"hero": "3", "q": "Spider"})


def test_the_list_never_counts_the_whole_history(admin_client, changes):
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(CHANGES)

    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"]]
    assert len(counts) == 1
    assert "LIMIT 10001" in counts[0]


# A change set's page ---------------------------------------------------------------------


def test_the_change_page_shows_who_what_and_the_sql(admin_client, changes, alice):
    joined = changes["joined"]

    page = text(admin_client.get(change_url(joined)))

    assert f'<a href="{reverse("admin:auth_user_change", args=[alice.pk])}">alice</a>' in page
    assert "Staff pages" in page
    assert "Join team" in page
    assert "Spider-Boy joined Z-Force." in page
    sql = page.split('class="module change-set-sql"')[1].split("</section>")[0]
    assert "The SQL it ran" in sql
    assert "INSERT INTO &quot;heroteamlink&quot;" in sql
    assert '<p class="sql-timing">[' in sql
    assert "1 hero changed; its entry is listed below." in page
    assert "Z-Force: not a member → member" in page
    # Read-only: no save buttons, no delete link; reverting is offered.
    assert 'name="_save"' not in page
    assert "deletelink" not in page
    assert f'<a href="{revert_url(joined)}" class="revertlink">Revert this change</a>' in page


def test_a_big_change_shows_its_first_entries_and_links_to_all(
    admin_client, tutorial, z_force, many_heroes
):
    change_set = bulk_toggle(many_heroes, z_force, 60)

    page = text(admin_client.get(change_url(change_set)))

    assert "60 heroes changed; the first 50 entries are listed below." in page
    assert f'<a href="{ENTRIES}?change_set={change_set.pk}">See all 60 entries</a>' in page
    assert (
        page.count('<td class="field-change"> <p>Z-Force: not a member → member') == ENTRIES_SHOWN
    )
    assert page.count(">Revert for Extra-") == ENTRIES_SHOWN

    entries = admin_client.get(ENTRIES, {"change_set": change_set.pk})
    assert len(entries.context["cl"].result_list) == 60


@pytest.mark.parametrize("count", [10, 1000])
def test_the_change_page_runs_the_same_queries_whatever_the_size(
    admin_client, tutorial, z_force, many_heroes, warm_caches, django_assert_num_queries, count
):
    change_set = bulk_toggle(many_heroes, z_force, count)

    # Session, user, the change set (team, latest revert), its first entries with their teams.
    with django_assert_num_queries(4):
        response = admin_client.get(change_url(change_set))

    assert response.status_code == 200


def test_entries_list_filters_by_change_set_and_hero(admin_client, changes, spider_boy):
    response = admin_client.get(ENTRIES, {"hero": spider_boy.pk})

    assert [str(entry) for entry in response.context["cl"].result_list] == [
        "Spider-Boy: Z-Force: not a member → member",
        "Spider-Boy: Preventers: trainee → member",
    ]
    by_set = admin_client.get(ENTRIES, {"change_set": changes["cleared"].pk})
    assert [str(entry) for entry in by_set.context["cl"].result_list] == [
        "Deadpond: team Z-Force → no team"
    ]


def test_history_cannot_be_added_changed_or_deleted(admin_client, changes):
    joined = changes["joined"]
    before = list(ChangeSet.objects.values_list("pk", "message"))

    assert admin_client.get(reverse("admin:heroes_changeset_add")).status_code == 403
    assert admin_client.post(change_url(joined), {"message": "forged"}).status_code == 403
    delete = reverse("admin:heroes_changeset_delete", args=[joined.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    entry = joined.entries.get()
    entry_url = reverse("admin:heroes_herochange_change", args=[entry.pk])
    assert admin_client.post(entry_url, {"hero_name": "forged"}).status_code == 403
    assert 'value="delete_selected"' not in text(admin_client.get(CHANGES))
    assert list(ChangeSet.objects.values_list("pk", "message")) == before


# Reverting from the change set's page ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_revert_through_the_confirmation_page(admin_client, tutorial, z_force):
    before = state()
    original = services.bulk_assign_team(heroes=Hero.objects.all(), team=z_force).change_set

    confirmation = admin_client.get(revert_url(original))

    page = text(confirmation)
    assert confirmation.templates[0].name == "admin/heroes/changeset/revert_confirmation.html"
    assert (
        f"Are you sure you want to revert change #{original.pk} "
        "(“2 heroes assigned to Z-Force, 1 already was.”)? This will put back:"
    ) in page
    assert (
        '<th scope="row">Rusty-Man <span class="quiet">(#2)</span></th>'
        "<td>team Z-Force</td><td>team Preventers</td>"
    ) in page
    assert "<td>team Z-Force</td><td>no team</td>" in page
    assert '<input type="hidden" name="post" value="yes">' in page

    response = admin_client.post(revert_url(original), {"post": "yes"}, follow=True)

    revert = ChangeSet.objects.get(reverts=original)
    assert response.redirect_chain == [(change_url(revert), 302)]
    assert messages_of(response) == [
        f"Reverted change #{original.pk} (2 heroes assigned to Z-Force, 1 already was)."
    ]
    assert state() == before
    page = text(response)
    panel = page.split('<section class="sql-panel"')[1].split("</section>")[0]
    assert "UPDATE &quot;hero&quot; SET &quot;team_id&quot;" in panel
    assert "<code>COMMIT</code>" in panel
    assert (revert.source, revert.actor, revert.operation) == ("admin", "admin", "revert")
    assert f'reverts <a href="{change_url(original)}">#{original.pk}</a>' in page


def test_the_confirmation_lists_fifty_entries_and_counts_the_rest(
    admin_client, tutorial, z_force, many_heroes
):
    change_set = bulk_toggle(many_heroes, z_force, 63)

    page = text(admin_client.get(revert_url(change_set)))

    assert page.count('<th scope="row">') == ENTRIES_SHOWN
    assert "<td>member of Z-Force</td><td>not a member of Z-Force</td>" in page
    assert "…and 13 more heroes." in page


def test_revert_one_hero_of_a_bulk_change(admin_client, tutorial, z_force, spider_boy):
    original = services.bulk_assign_team(heroes=Hero.objects.all(), team=z_force).change_set

    page = text(admin_client.get(revert_url(original), {"hero": spider_boy.pk}))
    assert "for Spider-Boy? This will put back:" in page
    assert page.count('<th scope="row">') == 1
    assert '<input type="hidden" name="hero" value="3">' in page

    response = admin_client.post(
        revert_url(original), {"hero": spider_boy.pk, "post": "yes"}, follow=True
    )

    assert messages_of(response) == [
        f"Reverted change #{original.pk} for Spider-Boy "
        "(2 heroes assigned to Z-Force, 1 already was)."
    ]
    assert list(Hero.objects.order_by("pk").values_list("team_id", flat=True)) == [2, 2, None]


def test_a_refused_revert_shows_why_and_changes_nothing(
    admin_client, spider_boy, preventers, z_force
):
    original = services.assign_team(hero=spider_boy, team=preventers).change_set
    services.assign_team(hero=spider_boy, team=z_force)
    before, change_sets = state(), ChangeSet.objects.count()

    response = admin_client.post(revert_url(original), {"post": "yes"}, follow=True)

    assert response.redirect_chain == [(change_url(original), 302)]
    assert messages_of(response) == [
        f"Change #{original.pk} cannot be reverted: the data has changed since. "
        "Spider-Boy: team is now Z-Force, not Preventers."
    ]
    assert state() == before
    assert ChangeSet.objects.count() == change_sets
    assert 'class="sql-panel"' not in text(response)


def test_the_confirmation_page_changes_nothing(admin_client, changes):
    before, change_sets = state(), ChangeSet.objects.count()

    admin_client.get(revert_url(changes["joined"]), {"post": "yes"})
    admin_client.post(revert_url(changes["joined"]))

    assert state() == before
    assert ChangeSet.objects.count() == change_sets


@pytest.mark.parametrize(
    ("hero", "message"),
    [
        ("abc", "“abc” is not a hero id. Nothing has been changed."),
        (
            "99999999999999999999",
            "“99999999999999999999” is not a hero id. Nothing has been changed.",
        ),
        ("1", "Hero #1 has no part in change #{pk}. Nothing has been changed."),
        ("999", "Hero #999 has no part in change #{pk}. Nothing has been changed."),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_bad_hero_is_refused_with_a_message(admin_client, changes, hero, message, method):
    joined = changes["joined"]
    before, change_sets = state(), ChangeSet.objects.count()

    send = getattr(admin_client, method)
    response = send(revert_url(joined), {"hero": hero, "post": "yes"}, follow=True)

    assert response.redirect_chain == [(change_url(joined), 302)]
    assert messages_of(response) == [message.format(pk=joined.pk)]
    assert state() == before
    assert ChangeSet.objects.count() == change_sets


@pytest.mark.parametrize("change_id", ["999", "abc", "99999999999999999999"])
def test_an_unknown_change_is_a_message_not_an_error(admin_client, changes, change_id):
    url = reverse("admin:heroes_changeset_revert", args=[change_id])

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert messages_of(response) == [
        f"change with ID “{change_id}” doesn’t exist. Perhaps it was deleted?"  # noqa: RUF001
    ]


@pytest.mark.parametrize("size", [10, 300])
def test_revert_costs_the_same_queries_at_any_size(
    admin_client, tutorial, z_force, many_heroes, warm_caches, django_assert_num_queries, size
):
    original = bulk_toggle(many_heroes, z_force, size)

    # Session, user, the change set, its first entries with their teams.
    with django_assert_num_queries(4):
        admin_client.get(revert_url(original))
    # Session, user, the change set; the revert (lock the change set, count, lock the team,
    # check, INSERT change set, INSERT entries, DELETE links, UPDATE change set, in its
    # transaction: here a savepoint and its release). The message and the SQL ride to the
    # next page in cookies.
    with django_assert_num_queries(13):
        response = admin_client.post(revert_url(original), {"post": "yes"})

    assert response.status_code == 302
    assert not HeroTeamLink.objects.filter(team=z_force, hero__name__startswith="Extra").exists()


# Reverting selected changes from the list ------------------------------------------------


def revert_selected(client, change_sets, **data):
    ids = [str(change_set.pk) for change_set in change_sets]
    return client.post(
        CHANGES, {"action": "revert_selected", "_selected_action": ids, **data}, follow=True
    )


def test_revert_selected_confirms_then_reverts_each_reporting_refusals(
    admin_client, tutorial, spider_boy, deadpond, rusty_man, preventers, z_force
):
    moved = services.assign_team(hero=spider_boy, team=preventers).change_set
    joined = services.join_team(hero=rusty_man, team=z_force, training=True).change_set
    left = services.leave_team(hero=deadpond, team=preventers).change_set
    services.assign_team(hero=spider_boy, team=z_force)  # so `moved` cannot be reverted
    before = state()

    confirmation = revert_selected(admin_client, [moved, joined, left])

    page = text(confirmation)
    assert "Are you sure you want to revert the 3 selected changes?" in page
    assert f"#{moved.pk}</a> Spider-Boy is now in Preventers." in page
    assert state() == before

    response = revert_selected(admin_client, [moved, joined, left], post="yes")

    assert messages_of(response) == [
        f"Reverted change #{left.pk} (Deadpond left Preventers).",
        f"Reverted change #{joined.pk} (Rusty-Man joined Z-Force as a trainee).",
        f"Change #{moved.pk} cannot be reverted: the data has changed since. "
        "Spider-Boy: team is now Z-Force, not Preventers.",
    ]
    assert sorted(
        HeroTeamLink.objects.filter(hero=deadpond).values_list("team_id", "is_training")
    ) == [
        (1, True),
        (2, False),
    ]
    assert not HeroTeamLink.objects.filter(hero=rusty_man, team=z_force).exists()
    assert Hero.objects.get(pk=spider_boy.pk).team_id == z_force.pk
    assert "DELETE FROM &quot;heroteamlink&quot;" in text(response)


def test_revert_selected_refuses_too_many_at_once(admin_client, tutorial, z_force):
    services.join_team(hero=Hero.objects.get(pk=3), team=z_force)
    ChangeSet.objects.bulk_create(
        ChangeSet(actor="x", source="other", operation="join", message=f"m{i}", sql="")
        for i in range(MAX_BULK_REVERTS)
    )
    before = state()

    response = admin_client.post(
        CHANGES,
        {
            "action": "revert_selected",
            "_selected_action": ["1"],
            "select_across": "1",
            "post": "yes",
        },
        follow=True,
    )

    assert messages_of(response) == [
        "Select at most 100 changes to revert at a time. Nothing has been changed."
    ]
    assert state() == before


@pytest.mark.parametrize("ids", [["abc"], ["1", "2x"], ["99999999999999999999"]])
def test_tampered_selections_are_refused_with_a_message(admin_client, changes, ids):
    before = state()
    response = admin_client.post(
        CHANGES,
        {"action": "revert_selected", "_selected_action": ids, "post": "yes"},
        follow=True,
    )

    assert messages_of(response) == ["The selection is not valid. No items have been changed."]
    assert state() == before


# Permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "team_entries", "needed"),
    [
        ("assign", False, {"heroes.change_hero"}),
        ("clear", False, {"heroes.change_hero"}),
        ("join", False, {"heroes.delete_heroteamlink"}),
        ("leave", False, {"heroes.add_heroteamlink"}),
        ("toggle", False, {"heroes.add_heroteamlink", "heroes.delete_heroteamlink"}),
        ("training", False, {"heroes.change_heroteamlink"}),
        ("revert", False, {"heroes.add_heroteamlink", "heroes.delete_heroteamlink"}),
        (
            "revert",
            True,
            {"heroes.add_heroteamlink", "heroes.delete_heroteamlink", "heroes.change_hero"},
        ),
    ],
)
def test_reverting_needs_the_permissions_of_the_opposite_operation(operation, team_entries, needed):
    assert revert_permissions(operation, has_team_entries=team_entries) == needed


def test_staff_without_the_view_permission_cannot_see_history(staff, changes):
    client = staff("view_hero", "change_hero")

    assert client.get(CHANGES).status_code == 403
    assert client.get(change_url(changes["cleared"])).status_code == 403
    assert client.get(revert_url(changes["cleared"])).status_code == 403
    assert client.post(revert_url(changes["cleared"]), {"post": "yes"}).status_code == 403
    page = text(client.get(reverse("admin:heroes_hero_change", args=[1])))
    assert "Connection history" not in page


def test_staff_without_the_operations_permission_cannot_revert(staff, changes):
    client = staff("view_changeset", "view_hero", "change_hero")
    joined, cleared = changes["joined"], changes["cleared"]
    before, change_sets = state(), ChangeSet.objects.count()

    # A join is undone by leaving: that needs heroes.delete_heroteamlink.
    assert "Revert this change" not in text(client.get(change_url(joined)))
    assert "Revert for" not in text(client.get(change_url(joined)))
    assert client.get(revert_url(joined)).status_code == 403
    assert client.post(revert_url(joined), {"post": "yes"}).status_code == 403
    assert state() == before
    assert ChangeSet.objects.count() == change_sets

    # A change of team is undone with heroes.change_hero, which this user has.
    assert "Revert this change" in text(client.get(change_url(cleared)))
    response = client.post(revert_url(cleared), {"post": "yes"}, follow=True)
    assert messages_of(response) == [
        f"Reverted change #{cleared.pk} (Deadpond is no longer in Z-Force)."
    ]


def test_revert_selected_skips_what_the_user_may_not_revert(staff, changes):
    client = staff("view_changeset", "change_hero")
    joined, cleared = changes["joined"], changes["cleared"]

    page = text(revert_selected(client, [joined, cleared]))
    assert (
        f"#{joined.pk}</a> Spider-Boy joined Z-Force. <strong>(you may not revert this one)" in page
    )

    response = revert_selected(client, [joined, cleared], post="yes")

    assert messages_of(response) == [
        f"Reverted change #{cleared.pk} (Deadpond is no longer in Z-Force).",
        f"You do not have permission to revert change #{joined.pk}.",
    ]
    assert HeroTeamLink.objects.filter(hero_id=3, team_id=2).exists()


def test_staff_who_may_only_view_history_get_no_revert_action(staff, changes):
    client = staff("view_changeset")
    before = state()

    assert 'value="revert_selected"' not in text(client.get(CHANGES))
    response = client.post(
        CHANGES,
        {
            "action": "revert_selected",
            "_selected_action": [str(changes["cleared"].pk)],
            "post": "yes",
        },
    )
    assert response.status_code == 403
    assert state() == before


def test_reverting_a_revert_of_a_team_change_also_needs_change_hero(staff, changes):
    revert = services.revert_change_set(change_set=changes["cleared"]).change_set
    client = staff("view_changeset", "add_heroteamlink", "delete_heroteamlink")

    assert client.get(revert_url(revert)).status_code == 403
    membership_revert = services.revert_change_set(change_set=changes["joined"]).change_set
    assert client.get(revert_url(membership_revert)).status_code == 200
