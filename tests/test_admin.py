"""The Django admin: change lists, bulk actions with their confirmation pages, forms, history."""

import re
from collections import Counter

import pytest
from django.contrib.admin import site
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.templatetags import admin_list
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from heroes import services
from heroes.admin import HeroAdmin
from heroes.admin_pagination import BigTableChangeList, EstimatedCountPaginator
from heroes.models import Hero, HeroTeamLink, Team

HEROES = reverse("admin:heroes_hero_changelist")
TEAMS = reverse("admin:heroes_team_changelist")
LINKS = reverse("admin:heroes_heroteamlink_changelist")


def text(response) -> str:
    """The page's HTML with runs of whitespace collapsed, for matching across lines."""
    return " ".join(response.content.decode().split())


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def state():
    """Every hero's team and memberships, to show that nothing changed."""
    return (
        sorted(Hero.objects.values_list("pk", "team_id")),
        sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training")),
    )


def act(client, action, ids, *, url=HEROES, follow=False, **data):
    """POST an action as the change list's form (`index`) or its confirmation page does."""
    return client.post(
        url, {"action": action, "_selected_action": [str(pk) for pk in ids], **data}, follow=follow
    )


@pytest.fixture
def crowd(tutorial, many_heroes):
    """A factory: `crowd(n)` adds n heroes, half in Z-Force, each a member of Preventers."""

    def create(count):
        heroes = many_heroes(count)
        Hero.objects.filter(pk__in=heroes.values("pk"), age__lt=45).update(team_id=2)
        HeroTeamLink.objects.bulk_create(
            HeroTeamLink(hero=hero, team_id=1, is_training=hero.pk % 2 == 0) for hero in heroes
        )
        return heroes

    return create


@pytest.fixture
def warm_caches(db):
    """Fill Django's content type cache, so that pinned query counts do not depend on test order."""
    ContentType.objects.get_for_models(Hero, Team, HeroTeamLink)


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


# The hero change list ------------------------------------------------------------------


def test_hero_change_list_shows_the_tutorial_columns_team_and_memberships(admin_client, tutorial):
    page = text(admin_client.get(HEROES))

    for header in ("column-id", "column-name", "column-secret_name", "column-age"):
        assert header in page
    assert (
        '<td class="field-secret_name">Dive Wilson</td><td class="field-age">-</td>'
        '<td class="field-team nowrap">Z-Force</td>'
        '<td class="field-memberships">Preventers (training), Z-Force</td>'
    ) in page
    assert "3 heroes" in page


@pytest.mark.parametrize(
    "url",
    [
        HEROES,
        f"{HEROES}?q=Extra&o=-2.4&p=2",
        TEAMS,
        LINKS,
        reverse("admin:heroes_changeset_changelist"),
        reverse("admin:heroes_herochange_changelist"),
    ],
)
def test_change_list_rows_are_the_html_of_djangos_own(
    admin_client, crowd, preventers, monkeypatch, url
):
    crowd(30)
    services.assign_team(hero=Hero.objects.get(name="Spider-Boy"), team=preventers)
    services.clear_team(hero=Hero.objects.get(name="Deadpond"))
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)

    def page():
        html = admin_client.get(url).content.decode()
        return re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "", html)

    ours = page()
    # Django's result_list tag: every cell looked up and formatted by items_for_result.
    monkeypatch.setattr(BigTableChangeList, "result_table", property(admin_list.result_list))
    assert ours == page()
    assert ours.count("<tr><t") >= 2  # Rows, each a row of cells.


def test_the_action_form_is_the_html_of_djangos_widgets(rf, admin_user):
    request = rf.get(HEROES)
    request.user = admin_user
    model_admin = HeroAdmin(Hero, site)
    ours, djangos = model_admin.action_form(auto_id=None), ActionForm(auto_id=None)
    for form in (ours, djangos):
        form.fields["action"].choices = model_admin.get_action_choices(request)

    def html(form):
        return [re.sub(r">\s+<", "><", str(field)) for field in form]

    assert html(ours) == html(djangos)
    assert (
        'option value="assign_team">Assign a team to the selected heroes</option>' in html(ours)[0]
    )


@pytest.mark.parametrize("per_page", [20, 100])
@pytest.mark.parametrize("count", [10, 300])
def test_hero_change_list_runs_the_same_queries_whatever_the_size(
    admin_client, crowd, warm_caches, monkeypatch, django_assert_num_queries, count, per_page
):
    crowd(count)
    monkeypatch.setattr(HeroAdmin, "list_per_page", per_page)

    # Session, user, the capped count, the page of heroes with their team, their memberships.
    with django_assert_num_queries(5):
        response = admin_client.get(HEROES)

    assert len(response.context["cl"].result_list) == min(count + 3, per_page)


def test_hero_change_list_never_counts_the_whole_table(admin_client, crowd):
    crowd(30)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(HEROES, {"q": "Extra"})
        admin_client.get(HEROES)

    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    # A search counts at most 1,001 heroes; the whole list adds up its id blocks.
    assert len(counts) == 1
    assert "LIMIT 1001" in counts[0]
    assert any('SUM(row_count), 0) FROM "hero_id_block"' in query["sql"] for query in queries)


def test_a_big_filtered_list_says_more_than_instead_of_counting(admin_client, crowd, monkeypatch):
    crowd(12)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 5)

    page = text(admin_client.get(HEROES, {"member_of": "1"}))

    assert "more than 5 heroes" in page
    assert "more than 5 results" in page


def test_a_search_is_counted_less_far_than_a_filter(admin_client, crowd, monkeypatch):
    crowd(12)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 20)
    monkeypatch.setattr(HeroAdmin, "search_exact_limit", 5)

    assert "15 results" in text(admin_client.get(HEROES, {"member_of": "1"}))
    page = text(admin_client.get(HEROES, {"q": "Extra"}))
    assert "more than 5 results" in page


def test_a_filtered_list_pages_past_its_count_limit(admin_client, crowd, monkeypatch):
    crowd(12)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 5)
    monkeypatch.setattr(HeroAdmin, "list_per_page", 2)
    filtered = {"member_of": "1"}
    members = list(
        Hero.objects.filter(team_links__team_id=1).order_by("pk").values_list("pk", flat=True)
    )
    assert len(members) == 15

    first = admin_client.get(HEROES, filtered)
    assert "more than 5 results" in text(first)
    # Counted 5 rows past each page's first: the pages after the first count go on.
    for number in range(2, 9):
        response = admin_client.get(HEROES, {**filtered, "p": number})
        assert response.status_code == 200
        assert ids_on(response) == members[(number - 1) * 2 : number * 2]
    assert "15 results" in text(response)
    # Reached by its "next" link (a cursor) too.
    response = admin_client.get(HEROES, {**filtered, "p": 5, "after": members[7]})
    assert ids_on(response) == members[8:10]
    # Past the end, Django's answer for a page that does not exist, however far.
    for number in (9, 10**20, 2**63 - 1):
        response = admin_client.get(HEROES, {**filtered, "p": number})
        assert response.status_code == 302
        assert response["Location"].endswith("?e=1")


def test_the_whole_hero_list_is_counted_exactly_from_its_id_blocks(
    admin_client, crowd, monkeypatch
):
    crowd(12)
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 5)
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)

    page = text(admin_client.get(HEROES))

    assert "15 heroes" in page
    assert "Select all heroes (15)" in page


def test_a_big_unfiltered_list_without_id_blocks_shows_an_estimate(
    admin_client, crowd, monkeypatch
):
    crowd(12)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE heroteamlink")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_limit", 5)

    page = text(admin_client.get(LINKS))

    assert "about 16 memberships" in page


def ids_on(response) -> list[int]:
    """The heroes of a change list page, by their action checkboxes."""
    return [int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', text(response))]


def page_query(queries) -> str:
    """The SQL that read the page's heroes (with their team)."""
    (sql,) = [q["sql"] for q in queries if 'FROM "hero" LEFT OUTER JOIN "team"' in q["sql"]]
    return sql


@pytest.mark.parametrize(("order", "reverse_ids"), [({}, False), ({"o": "-1"}, True)])
def test_a_deep_page_shows_its_heroes_in_the_queries_of_the_first(
    admin_client, crowd, warm_caches, monkeypatch, django_assert_num_queries, order, reverse_ids
):
    crowd(40)
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)
    ids = sorted(Hero.objects.values_list("pk", flat=True), reverse=reverse_ids)

    with django_assert_num_queries(5):
        first = admin_client.get(HEROES, order)
    with django_assert_num_queries(5) as queries:
        third = admin_client.get(HEROES, {**order, "p": "3"})

    assert ids_on(first) == ids[:10]
    assert ids_on(third) == ids[20:30]
    # Seeks through the primary key's index instead of reading the rows before the page.
    sign = "<=" if reverse_ids else ">="
    assert f'WHERE "hero"."id" {sign} (SELECT' in page_query(queries)


def heroes_with_ids(*ids):
    Hero.objects.bulk_create(Hero(pk=pk, name=f"Hero {pk}", secret_name="Secret") for pk in ids)


def id_blocks() -> list[tuple[int, int]]:
    """(first id, heroes) per block of 4,096 ids, as migration 0008's triggers keep them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT first_id, row_count FROM hero_id_block ORDER BY first_id")
        return [tuple(row) for row in cursor.fetchall()]


def counted_blocks() -> list[tuple[int, int]]:
    """(first id, heroes) per block of 4,096 ids, counted from the heroes."""
    ids = Hero.objects.values_list("pk", flat=True)
    return sorted(Counter(pk - pk % 4096 for pk in ids).items())


def test_the_id_blocks_count_the_heroes_through_inserts_deletes_and_id_changes(tutorial):
    heroes_with_ids(*range(4090, 4100), 9000, 20000)
    assert id_blocks() == counted_blocks() == [(0, 9), (4096, 4), (8192, 1), (16384, 1)]

    Hero.objects.filter(pk__in=[2, 4090, 9000]).delete()
    Hero.objects.create(pk=4090, name="Back", secret_name="Again")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE hero SET id = 30000 WHERE id = 20000")
        cursor.execute("DELETE FROM hero WHERE id BETWEEN 4096 AND 4098")

    assert id_blocks() == counted_blocks() == [(0, 8), (4096, 1), (28672, 1)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
def test_truncating_the_heroes_empties_their_id_blocks(tutorial):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE hero CASCADE")

    assert id_blocks() == []


@pytest.mark.parametrize(("order", "reverse_ids"), [({}, False), ({"o": "-1"}, True)])
def test_a_page_typed_in_is_found_through_the_id_blocks_as_heroes_come_and_go(
    admin_client, tutorial, monkeypatch, order, reverse_ids
):
    heroes_with_ids(*range(4000, 4200, 3), *range(9000, 9030), *range(13000, 13100, 7))
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)

    def pages() -> list[list[int]]:
        ids = sorted(Hero.objects.values_list("pk", flat=True), reverse=reverse_ids)
        return [ids[start : start + 10] for start in range(0, len(ids), 10)]

    with CaptureQueriesContext(connection) as queries:
        eighth = admin_client.get(HEROES, {**order, "p": "8"})
    assert ids_on(eighth) == pages()[7]
    assert 'FROM "hero_id_block"' in page_query(queries)

    Hero.objects.filter(pk__in=[2, 4003, 4006, 9001]).delete()
    heroes_with_ids(4001, 9100)
    for number, ids in enumerate(pages(), start=1):
        assert ids_on(admin_client.get(HEROES, {**order, "p": str(number)})) == ids


def test_the_next_page_link_carries_a_keyset_cursor(admin_client, crowd, monkeypatch):
    crowd(40)
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)
    ids = sorted(Hero.objects.values_list("pk", flat=True))

    page = text(admin_client.get(HEROES, {"p": "2"}))
    with CaptureQueriesContext(connection) as queries:
        following = admin_client.get(HEROES, {"p": "3", "after": str(ids[19])})

    assert f'href="?after={ids[19]}&amp;p=3"' in page
    # Each row links to its change page with the list's filters, as Django's rows do.
    assert f'<a href="{HEROES}{ids[10]}/change/?_changelist_filters=p%3D2">' in page
    assert 'href="?p=4"' in page
    assert ids_on(following) == ids[20:30]
    assert f'WHERE "hero"."id" > {ids[19]}' in page_query(queries).replace("%s", str(ids[19]))
    # The cursor is no filter: the other links of the page leave it out.
    assert "after=" not in text(following).replace(f"after={ids[29]}&amp;p=4", "")


@pytest.mark.parametrize("cursor", ["abc", "-", "99999999999999999999"])
def test_a_tampered_cursor_finds_the_page_by_its_number(admin_client, crowd, monkeypatch, cursor):
    crowd(40)
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)

    response = admin_client.get(HEROES, {"p": "2", "after": cursor})

    assert response.status_code == 200
    assert ids_on(response) == ids_on(admin_client.get(HEROES, {"p": "2"}))


def test_a_list_sorted_by_name_pages_as_django_does(admin_client, crowd, monkeypatch):
    crowd(40)
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)
    ids = list(Hero.objects.order_by("name", "-pk").values_list("pk", flat=True))

    response = admin_client.get(HEROES, {"o": "2", "p": "2"})

    assert ids_on(response) == ids[10:20]
    assert 'href="?o=2&amp;p=3"' in text(response)


def test_search_finds_substrings_of_name_and_secret_name(admin_client, tutorial):
    by_name = admin_client.get(HEROES, {"q": "man"}).context["cl"].result_list
    by_secret_name = admin_client.get(HEROES, {"q": "parque"}).context["cl"].result_list

    assert [hero.name for hero in by_name] == ["Rusty-Man"]
    assert [hero.name for hero in by_secret_name] == ["Spider-Boy"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"team": "none"}, ["Spider-Boy"]),
        ({"team": "any"}, ["Deadpond", "Rusty-Man"]),
        ({"team": "1"}, ["Rusty-Man"]),
        ({"member_of": "2"}, ["Deadpond"]),
        ({"member_of": "1", "team": "none"}, ["Spider-Boy"]),
    ],
)
def test_filters_by_team_and_by_membership(admin_client, tutorial, query, names):
    result = admin_client.get(HEROES, query).context["cl"].result_list
    assert [hero.name for hero in result] == names


def test_team_filter_searches_teams_instead_of_listing_them(admin_client, tutorial):
    Team.objects.bulk_create(Team(name=f"Squad {index}", headquarters="HQ") for index in range(30))

    unfiltered = text(admin_client.get(HEROES))
    searched = text(admin_client.get(HEROES, {"team_q": "squad 2"}))

    assert "Squad" not in unfiltered
    assert '<label for="id_team_q">Find a team by name</label>' in unfiltered
    assert re.findall(r'href="\?team=(\d+)">Squad 2\b', searched)
    assert "Squad 3" not in searched
    assert "No team matches" in text(admin_client.get(HEROES, {"team_q": "nothing"}))


def test_team_filter_with_a_bad_value_redirects_with_the_admins_error_flag(admin_client, tutorial):
    response = admin_client.get(HEROES, {"team": "abc"})

    assert response.status_code == 302
    assert response["Location"] == f"{HEROES}?e=1"


def test_team_autocomplete_finds_teams_by_name(admin_client, tutorial):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "heroes", "model_name": "hero", "field_name": "team", "term": "prev"},
    )

    assert response.json()["results"] == [{"id": "1", "text": "Preventers"}]


# Actions: the confirmation page ----------------------------------------------------------


def test_an_action_that_needs_a_team_asks_for_it_first(admin_client, tutorial):
    before = state()
    response = act(admin_client, "assign_team", [1, 3], index="0")

    page = text(response)
    assert response.templates[0].name == "admin/heroes/hero/bulk_change_confirmation.html"
    assert "You have selected 2 heroes." in page
    assert 'data-model-name="hero" data-field-name="team"' in page
    assert "<option" not in page.split('id="id_team"')[1].split("</select>")[0]
    assert "What will change" not in page
    assert state() == before


# Transactional, so that the change's own BEGIN and ROLLBACK/COMMIT are seen.
@pytest.mark.django_db(transaction=True)
def test_the_confirmation_page_previews_the_change_and_its_sql_changing_nothing(
    admin_client, tutorial
):
    before = state()
    response = act(admin_client, "assign_team", [1, 2, 3], team="1")

    page = text(response)
    assert "2 of the 3 selected heroes will change; 1 is already as asked." in page
    assert '<th scope="row">Deadpond <span class="quiet">(#1)</span></th><td>Z-Force</td>' in page
    assert "<td>no team</td><td>Preventers</td>" in page
    assert "Rusty-Man" not in page
    assert "Captured from a dry run of this change" in page
    sql = page.split('class="bulk-change-sql"')[1]
    assert "INSERT INTO &quot;django_admin_log&quot;" in sql
    assert "UPDATE &quot;hero&quot; SET &quot;team_id&quot; = %s" in sql
    assert "<code>ROLLBACK</code>" in sql
    assert '<input type="hidden" name="post" value="yes">' in page
    assert state() == before
    assert not LogEntry.objects.exists()


def test_the_preview_shows_fifty_heroes_and_counts_the_rest(admin_client, crowd):
    crowd(60)
    page = text(act(admin_client, "add_to_team", [1], select_across="1", team="2"))

    assert page.count('<th scope="row">') == 50
    assert "62 of the 63 selected heroes will change; 1 is already as asked." in page
    assert "…and 12 more heroes." in page


# Actions: running them -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_assign_team_to_the_selected_heroes(admin_client, tutorial):
    response = act(admin_client, "assign_team", [1, 2, 3], team="1", post="yes", follow=True)

    assert messages_of(response) == ["2 heroes assigned to Preventers, 1 already was."]
    assert sorted(Hero.objects.values_list("pk", "team_id")) == [(1, 1), (2, 1), (3, 1)]
    page = text(response)
    assert response.redirect_chain == [(HEROES, 302)]
    assert 'class="sql-panel"' in page
    assert "UPDATE &quot;hero&quot; SET &quot;team_id&quot; = %s" in page
    assert "<code>COMMIT</code>" in page


def test_assign_team_writes_one_history_row_per_changed_hero(admin_client, tutorial):
    act(admin_client, "assign_team", [1, 2, 3], team="1", post="yes")

    entries = LogEntry.objects.order_by("object_id")
    assert [(e.object_id, e.object_repr, e.action_flag, e.change_message) for e in entries] == [
        ("1", "Deadpond", CHANGE, "Changed team from Z-Force to Preventers."),
        ("3", "Spider-Boy", CHANGE, "Changed team from no team to Preventers."),
    ]
    history = text(admin_client.get(reverse("admin:heroes_hero_history", args=[3])))
    assert "Changed team from no team to Preventers." in history


def test_clear_team_of_the_selected_heroes(admin_client, tutorial):
    response = act(admin_client, "clear_team", [1, 3], post="yes", follow=True)

    assert messages_of(response) == ["1 hero no longer in a team, 1 had none."]
    assert Hero.objects.filter(team__isnull=True).count() == 2
    assert list(LogEntry.objects.values_list("object_id", "change_message")) == [
        ("1", "Cleared team (was Z-Force).")
    ]
    assert "UPDATE &quot;hero&quot; SET &quot;team_id&quot; = NULL" in text(response)


def test_add_the_selected_heroes_to_a_team_as_trainees(admin_client, tutorial):
    response = act(
        admin_client, "add_to_team", [1, 2, 3], team="2", training="on", post="yes", follow=True
    )

    assert messages_of(response) == ["2 heroes joined Z-Force, 1 already was a member."]
    assert sorted(HeroTeamLink.objects.filter(team_id=2).values_list("hero_id", "is_training")) == [
        (1, False),
        (2, True),
        (3, True),
    ]
    assert sorted(LogEntry.objects.values_list("object_id", "change_message")) == [
        ("2", "Joined Z-Force as a trainee."),
        ("3", "Joined Z-Force as a trainee."),
    ]
    assert "INSERT INTO &quot;heroteamlink&quot;" in text(response)


def test_remove_the_selected_heroes_from_a_team(admin_client, tutorial):
    response = act(admin_client, "remove_from_team", [1, 2], team="2", post="yes", follow=True)

    assert messages_of(response) == ["1 hero left Z-Force, 1 was not a member."]
    assert not HeroTeamLink.objects.filter(team_id=2).exists()
    assert list(LogEntry.objects.values_list("object_id", "change_message")) == [
        ("1", "Left Z-Force.")
    ]
    assert "DELETE FROM &quot;heroteamlink&quot;" in text(response)


def test_toggle_the_selected_heroes_membership(admin_client, tutorial):
    response = act(admin_client, "toggle_membership", [1, 2, 3], team="2", post="yes", follow=True)

    assert messages_of(response) == ["2 heroes joined Z-Force, 1 hero left."]
    assert sorted(HeroTeamLink.objects.filter(team_id=2).values_list("hero_id", flat=True)) == [
        2,
        3,
    ]
    assert sorted(LogEntry.objects.values_list("object_id", "change_message")) == [
        ("1", "Left Z-Force."),
        ("2", "Joined Z-Force."),
        ("3", "Joined Z-Force."),
    ]


def test_the_toggle_preview_shows_both_directions(admin_client, tutorial):
    page = text(act(admin_client, "toggle_membership", [1, 3], team="1"))

    assert "<td>member (training)</td><td>not a member</td>" in page
    assert page.count("<td>member (training)</td><td>not a member</td>") == 2

    page = text(act(admin_client, "toggle_membership", [1, 3], team="2", training="on"))
    assert "Deadpond <span" in page
    assert "<td>member</td><td>not a member</td>" in page
    assert "<td>not a member</td><td>member (training)</td>" in page


def test_select_across_changes_every_hero_of_the_filtered_list(admin_client, crowd, monkeypatch):
    crowd(30)
    monkeypatch.setattr(HeroAdmin, "list_per_page", 10)

    response = admin_client.post(
        f"{HEROES}?q=Extra",
        {"action": "clear_team", "_selected_action": ["4"], "select_across": "1", "post": "yes"},
    )

    assert response.status_code == 302
    assert not Hero.objects.filter(name__startswith="Extra", team__isnull=False).exists()
    assert Hero.objects.get(pk=1).team_id == 2


@pytest.mark.parametrize(
    ("action", "data", "preview_queries", "run_queries"),
    [
        # Each includes the change's own history record: INSERT change set, INSERT ...
        # SELECT its entries, UPDATE change set.
        ("assign_team", {"team": "2"}, 16, 14),
        ("clear_team", {}, 15, 13),
        ("add_to_team", {"team": "2"}, 18, 16),
        ("remove_from_team", {"team": "1"}, 18, 16),
        ("toggle_membership", {"team": "1"}, 19, 17),
    ],
)
@pytest.mark.parametrize("count", [10, 300])
def test_every_action_runs_the_same_queries_whatever_the_selection(
    admin_client,
    crowd,
    warm_caches,
    django_assert_num_queries,
    action,
    data,
    preview_queries,
    run_queries,
    count,
):
    crowd(count)
    select_all = {"_selected_action": ["1"], "select_across": "1", **data}

    # Session, user, the change list's count, the team; the dry run (its statements and
    # the savepoints around them) and the preview's heroes.
    with django_assert_num_queries(preview_queries):
        preview = act(admin_client, action, [], **select_all)
    # The same, less the preview's heroes (the message and SQL ride in cookies).
    with django_assert_num_queries(run_queries):
        response = act(admin_client, action, [], post="yes", **select_all)

    assert preview.status_code == 200
    assert response.status_code == 302
    assert LogEntry.objects.exists()


# Actions: bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("team", ["999", "abc", "99999999999999999999", ""])
def test_an_unknown_team_is_refused_with_a_message(admin_client, tutorial, team):
    before = state()
    response = act(admin_client, "assign_team", [1, 3], team=team, post="yes")

    assert response.status_code == 200
    expected = "This field is required." if team == "" else "That team does not exist (any more)."
    assert expected in text(response)
    assert state() == before


def test_a_missing_team_with_confirmation_is_refused_with_a_message(admin_client, tutorial):
    before = state()
    response = act(admin_client, "add_to_team", [1], post="yes")

    assert "This field is required." in text(response)
    assert state() == before


def test_no_selection_is_refused_with_a_message(admin_client, tutorial):
    before = state()
    response = act(admin_client, "assign_team", [], team="1", post="yes", index="0", follow=True)

    assert messages_of(response) == [
        "Items must be selected in order to perform actions on them. No items have been changed."
    ]
    assert state() == before


@pytest.mark.parametrize("ids", [["abc"], ["1", "2x"], ["99999999999999999999"], ["1.5"]])
def test_tampered_ids_are_refused_with_a_message(admin_client, tutorial, ids):
    before = state()
    response = act(admin_client, "clear_team", ids, post="yes", follow=True)

    assert messages_of(response) == ["The selection is not valid. No items have been changed."]
    assert state() == before


def test_unknown_ids_change_nothing(admin_client, tutorial):
    before = state()
    response = act(admin_client, "clear_team", [998, 999], post="yes", follow=True)

    assert messages_of(response) == ["0 heroes no longer in a team."]
    assert state() == before


def test_an_unknown_action_is_refused_with_a_message(admin_client, tutorial):
    response = act(admin_client, "drop_tables", [1], post="yes", follow=True)

    assert messages_of(response) == ["No action selected."]


def test_without_confirmation_an_action_changes_nothing(admin_client, tutorial):
    before = state()
    response = act(admin_client, "clear_team", [1, 2])

    assert response.status_code == 200
    assert "2 of the 2 selected heroes will change." in text(response)
    assert state() == before


# Permissions -----------------------------------------------------------------------------


ACTIONS = ["assign_team", "clear_team", "add_to_team", "remove_from_team", "toggle_membership"]


@pytest.mark.parametrize(
    ("codenames", "allowed"),
    [
        (["view_hero"], []),
        (["view_hero", "change_hero"], ["assign_team", "clear_team"]),
        (["view_hero", "add_heroteamlink"], ["add_to_team"]),
        (["view_hero", "delete_heroteamlink"], ["remove_from_team"]),
        (
            ["view_hero", "add_heroteamlink", "delete_heroteamlink"],
            ["add_to_team", "remove_from_team", "toggle_membership"],
        ),
    ],
)
def test_staff_see_only_the_actions_their_permissions_allow(staff, tutorial, codenames, allowed):
    client = staff(*codenames)
    page = text(client.get(HEROES))

    shown = [action for action in ACTIONS if f'<option value="{action}">' in page]
    assert shown == allowed


@pytest.mark.parametrize("action", ACTIONS)
def test_staff_without_any_action_permission_are_refused_and_nothing_changes(
    staff, tutorial, action
):
    client = staff("view_hero")
    before = state()

    response = act(client, action, [1, 2, 3], team="2", post="yes")

    assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize("action", ["add_to_team", "remove_from_team", "toggle_membership"])
def test_staff_without_the_actions_permission_are_refused_and_nothing_changes(
    staff, tutorial, action
):
    client = staff("view_hero", "change_hero")
    before = state()

    response = act(client, action, [1, 2, 3], team="2", post="yes", follow=True)

    assert messages_of(response) == ["No action selected."]
    assert state() == before


def test_toggle_needs_both_membership_permissions(staff, tutorial):
    client = staff("view_hero", "add_heroteamlink")
    before = state()

    response = act(client, "toggle_membership", [1], team="2", post="yes", follow=True)

    assert messages_of(response) == ["No action selected."]
    assert state() == before


# The hero change form --------------------------------------------------------------------


def hero_form(hero, team, links, **changes):
    """The POST data of the hero change form, memberships inline, with `changes` applied."""
    data = {
        "name": hero.name,
        "secret_name": hero.secret_name,
        "age": hero.age or "",
        "team": team or "",
        "team_links-TOTAL_FORMS": str(len(links) + 1),
        "team_links-INITIAL_FORMS": str(len(links)),
        "team_links-MIN_NUM_FORMS": "0",
        "team_links-MAX_NUM_FORMS": "1000",
    }
    for index, link in enumerate(links):
        data |= {
            f"team_links-{index}-id": str(link.pk),
            f"team_links-{index}-hero": str(hero.pk),
            f"team_links-{index}-team": str(link.team_id),
            f"team_links-{index}-is_training": "on" if link.is_training else "",
        }
    data[f"team_links-{len(links)}-hero"] = str(hero.pk)
    return data | changes


def links_of(hero):
    return list(HeroTeamLink.objects.filter(hero=hero).order_by("team__name"))


@pytest.mark.parametrize("count", [10, 300])
def test_hero_change_form_runs_the_same_queries_whatever_the_size(
    admin_client, crowd, warm_caches, django_assert_num_queries, count
):
    crowd(count)
    url = reverse("admin:heroes_hero_change", args=[1])

    # Session, user, the hero with its team, its memberships with their teams: the
    # autocomplete selects are labelled from those rows, not by a query each.
    with django_assert_num_queries(4):
        response = admin_client.get(url)

    page = text(response)
    assert len(response.content) < 50_000
    assert 'data-field-name="team"' in page
    assert '<option value="2" selected>Z-Force</option>' in page
    # The hero's team and its two memberships' teams, and no other team.
    assert page.count(" selected>") == 3
    assert '<option value="1" selected>Preventers</option>' in page


def test_changing_the_team_on_the_form_goes_through_the_services(admin_client, spider_boy):
    url = reverse("admin:heroes_hero_change", args=[3])
    response = admin_client.post(url, hero_form(spider_boy, 2, links_of(spider_boy)), follow=True)

    assert Hero.objects.get(pk=3).team_id == 2
    page = text(response)
    assert "UPDATE &quot;hero&quot; SET &quot;team_id&quot; = %s WHERE &quot;hero&quot;" in page
    assert LogEntry.objects.get().get_change_message() == "Changed Team."


def test_the_form_saves_other_fields_without_touching_the_team_column(admin_client, rusty_man):
    url = reverse("admin:heroes_hero_change", args=[2])
    with CaptureQueriesContext(connection) as queries:
        admin_client.post(url, hero_form(rusty_man, 1, links_of(rusty_man), age="49"))

    assert Hero.objects.get(pk=2).age == 49
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "hero"')]
    assert updates == ['UPDATE "hero" SET "age" = 49 WHERE "hero"."id" = 2']


def test_adding_a_hero_with_a_team_assigns_it_through_the_services(admin_client, tutorial):
    data = {
        "name": "Tarantula",
        "secret_name": "Natalia Roman-on",
        "age": "32",
        "team": "1",
        "team_links-TOTAL_FORMS": "1",
        "team_links-INITIAL_FORMS": "0",
        "team_links-MIN_NUM_FORMS": "0",
        "team_links-MAX_NUM_FORMS": "1000",
        "team_links-0-team": "2",
        "team_links-0-is_training": "on",
    }
    response = admin_client.post(reverse("admin:heroes_hero_add"), data, follow=True)

    hero = Hero.objects.get(name="Tarantula")
    assert hero.team_id == 1
    assert links_of(hero)[0].team_id == 2 and links_of(hero)[0].is_training
    page = text(response)
    assert "UPDATE &quot;hero&quot; SET &quot;team_id&quot;" in page
    assert "INSERT INTO &quot;heroteamlink&quot;" in page


def test_the_membership_inline_joins_leaves_and_sets_training_through_the_services(
    admin_client, deadpond
):
    url = reverse("admin:heroes_hero_change", args=[1])
    links = links_of(deadpond)  # Preventers (training), Z-Force
    data = hero_form(deadpond, 2, links)
    data |= {"team_links-0-is_training": "", "team_links-1-DELETE": "on"}

    response = admin_client.post(url, data, follow=True)

    assert [(link.team_id, link.is_training) for link in links_of(deadpond)] == [(1, False)]
    page = text(response)
    assert "UPDATE &quot;heroteamlink&quot; SET &quot;is_training&quot;" in page
    assert "DELETE FROM &quot;heroteamlink&quot;" in page
    message = LogEntry.objects.get().get_change_message()
    assert message == (
        "Changed Is training for membership “Deadpond in Preventers”. "
        "Deleted membership “Deadpond in Z-Force”."
    )


def test_the_membership_inline_adds_a_membership(admin_client, spider_boy):
    url = reverse("admin:heroes_hero_change", args=[3])
    links = links_of(spider_boy)
    data = hero_form(spider_boy, "", links) | {"team_links-1-team": "2"}

    response = admin_client.post(url, data, follow=True)

    assert [link.team_id for link in links_of(spider_boy)] == [1, 2]
    assert "INSERT INTO &quot;heroteamlink&quot;" in text(response)
    assert LogEntry.objects.get().get_change_message() == (
        "Added membership “Spider-Boy in Z-Force”."
    )


# Teams -----------------------------------------------------------------------------------


def test_team_change_form_lists_the_first_members_and_links_to_all(
    admin_client, crowd, warm_caches, django_assert_num_queries
):
    crowd(30)
    url = reverse("admin:heroes_team_change", args=[1])

    # Session, user, team, the two counts, the first members with their heroes.
    with django_assert_num_queries(6):
        response = admin_client.get(url)

    page = text(response)
    assert len(response.content) < 50_000
    # By hero id, the order of the (team, hero) index.
    shown = [
        int(pk)
        for pk in re.findall(
            r'name="hero_links-\d+-hero"[^>]*>\s*<option value="(\d+)"', response.content.decode()
        )
    ]
    assert (
        shown
        == sorted(HeroTeamLink.objects.filter(team_id=1).values_list("hero_id", flat=True))[:20]
    )
    # No add/change/view links beside each row's chooser, and no placeholder for new rows.
    assert "change_id_hero_links-0-hero" not in page
    assert "DatabaseDefault" not in page

    assert f'<a href="{HEROES}?team=1">1 heroes</a> have this team' in page
    assert f'<a href="{LINKS}?team=1">33 memberships</a> (the first 20 are listed below)' in page
    assert page.count('name="hero_links-') > 20
    assert 'name="hero_links-INITIAL_FORMS" value="20"' in page


def test_the_team_members_inline_saves_through_the_services(admin_client, preventers):
    url = reverse("admin:heroes_team_change", args=[1])
    links = list(HeroTeamLink.objects.filter(team=preventers).order_by("pk"))
    data = {
        "name": "Preventers",
        "headquarters": "Sharp Tower",
        "hero_links-TOTAL_FORMS": str(len(links)),
        "hero_links-INITIAL_FORMS": str(len(links)),
        "hero_links-MIN_NUM_FORMS": "0",
        "hero_links-MAX_NUM_FORMS": "1000",
    }
    for index, link in enumerate(links):
        data |= {
            f"hero_links-{index}-id": str(link.pk),
            f"hero_links-{index}-team": "1",
            f"hero_links-{index}-hero": str(link.hero_id),
            f"hero_links-{index}-is_training": "on" if link.is_training else "",
        }
    data["hero_links-0-DELETE"] = "on"

    response = admin_client.post(url, data, follow=True)

    assert sorted(HeroTeamLink.objects.filter(team=preventers).values_list("hero_id", flat=True))
    assert links[0].hero_id not in HeroTeamLink.objects.filter(team=preventers).values_list(
        "hero_id", flat=True
    )
    assert "DELETE FROM &quot;heroteamlink&quot;" in text(response)


def test_deleting_a_team_shows_counts_before_confirming(
    admin_client, crowd, warm_caches, django_assert_num_queries
):
    crowd(40)
    # Session, user, the team, and two counts (index-only on the team's foreign keys).
    with django_assert_num_queries(5):
        page = text(admin_client.get(reverse("admin:heroes_team_delete", args=[1])))

    assert "1 hero has this team and will be left with no team (the hero is not deleted)." in page
    assert "<li>Teams: 1</li>" in page
    assert "<li>Memberships: 43</li>" in page
    assert "Extra-" not in page


def test_deleting_a_team_keeps_its_heroes_without_team(admin_client, tutorial):
    admin_client.post(reverse("admin:heroes_team_delete", args=[1]), {"post": "yes"})

    assert Hero.objects.get(pk=2).team_id is None
    assert not HeroTeamLink.objects.filter(team_id=1).exists()


def test_deleting_selected_teams_shows_counts(admin_client, tutorial):
    page = text(act(admin_client, "delete_selected", [1, 2], url=TEAMS))

    assert "2 heroes have this team and will be left with no team" in page
    assert "<li>Memberships: 4</li>" in page


# Memberships ------------------------------------------------------------------------------


def test_membership_change_list_filters_by_team(admin_client, tutorial):
    response = admin_client.get(LINKS, {"team": "2"})

    assert [str(link) for link in response.context["cl"].result_list] == ["Deadpond in Z-Force"]


@pytest.mark.parametrize("count", [10, 300])
def test_membership_change_form_labels_its_choosers_from_its_own_row(
    admin_client, crowd, warm_caches, django_assert_num_queries, count
):
    crowd(count)
    link = HeroTeamLink.objects.get(hero_id=3, team_id=1)

    # Session, user, the membership with its hero and team.
    with django_assert_num_queries(3):
        response = admin_client.get(reverse("admin:heroes_heroteamlink_change", args=[link.pk]))

    page = text(response)
    assert '<option value="3" selected>Spider-Boy</option>' in page
    assert '<option value="1" selected>Preventers</option>' in page
    assert len(response.content) < 50_000


def test_adding_a_membership_joins_through_the_services(admin_client, spider_boy):
    data = {"hero": "3", "team": "2", "is_training": "on"}
    response = admin_client.post(reverse("admin:heroes_heroteamlink_add"), data, follow=True)

    link = HeroTeamLink.objects.get(hero_id=3, team_id=2)
    assert link.is_training
    assert "INSERT INTO &quot;heroteamlink&quot;" in text(response)


def test_changing_training_on_a_membership_goes_through_the_services(admin_client, spider_boy):
    link = HeroTeamLink.objects.get(hero_id=3, team_id=1)
    url = reverse("admin:heroes_heroteamlink_change", args=[link.pk])
    response = admin_client.post(url, {"hero": "3", "team": "1"}, follow=True)

    assert not HeroTeamLink.objects.get(pk=link.pk).is_training
    assert "UPDATE &quot;heroteamlink&quot; SET &quot;is_training&quot;" in text(response)


def test_deleting_a_membership_leaves_through_the_services(admin_client, spider_boy):
    link = HeroTeamLink.objects.get(hero_id=3, team_id=1)
    url = reverse("admin:heroes_heroteamlink_delete", args=[link.pk])
    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assert not HeroTeamLink.objects.filter(pk=link.pk).exists()
    assert "DELETE FROM &quot;heroteamlink&quot;" in text(response)
