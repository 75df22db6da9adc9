"""The staff pages: what each shows, who may use them, and every change through a form."""

import html
import re
from urllib.parse import quote

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client

from heroes import views
from heroes.models import ChangeSet, Hero, HeroTeamLink, Team

PAGES = ["/heroes/", "/heroes/3/", "/teams/", "/teams/1/", "/memberships/"]
CHANGE_URLS = [
    "/heroes/3/team/",
    "/heroes/1/team/clear/",
    "/heroes/3/memberships/",
    "/heroes/3/training/",
    "/memberships/toggle/",
]
NOT_STAFF = "These pages are for staff only, and your account is not a staff account."
OUT_OF_DATE = "Nothing was changed: the page was out of date."
DASH = "\N{EN DASH}"  # an empty cell of the grid
INCOMPLETE = "This form is incomplete or out of date: reload the page and try again."
NO_TEAM = "That team does not exist: it may have been deleted."
# (hero, team, is_training) of the tutorial's memberships
TUTORIAL_LINKS = [(1, 1, True), (1, 2, False), (2, 1, False), (3, 1, True)]


# Helpers --------------------------------------------------------------------------------


@pytest.fixture
def staff(client, django_user_model):
    """A factory: `staff("change_hero", ...)` logs a staff user with those permissions in."""

    def login(*codenames, is_staff=True):
        user = django_user_model.objects.create(username="sam", is_staff=is_staff)
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="heroes", codename__in=codenames)
        )
        client.force_login(user)
        return client

    return login


def messages_of(response) -> list[tuple[str, str]]:
    """(level, text) of each message the response showed."""
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def panel_sql(response) -> list[str]:
    """The SQL panel's statements as rendered on the page, each on one line."""
    content = response.content.decode()
    return [
        " ".join(html.unescape(code).split())
        for code in re.findall(
            r'<li class="sql-statement[^"]*">\s*<pre><code>(.*?)</code>', content, re.S
        )
    ]


INLINE = re.compile(r"</?(a|span|strong|em|time|code)\b[^>]*>")
TAG = re.compile(r"<[^>]+>")


def as_text(markup: str) -> str:
    """Markup as people read it: tags removed (blocks apart), whitespace collapsed."""
    return " ".join(html.unescape(TAG.sub(" ", INLINE.sub("", markup))).split())


def text(response) -> str:
    """The page's text."""
    return as_text(response.content.decode())


def links():
    return sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training"))


def team_id(hero_pk):
    return Hero.objects.get(pk=hero_pk).team_id


def assign(client, hero=3, team=1, expected="", **extra):
    return client.post(
        f"/heroes/{hero}/team/", {"team": team, "expected_team": expected, **extra}, follow=True
    )


def membership(client, action, hero=3, team=2, **extra):
    return client.post(
        f"/heroes/{hero}/memberships/", {"team": team, "action": action, **extra}, follow=True
    )


def toggle(client, action, hero=3, team=2, **extra):
    data = {"hero": hero, "team": team, "action": action, **extra}
    return client.post("/memberships/toggle/", data, follow=True)


# Access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [*PAGES, "/heroes/?q=Spider&team=1"])
def test_anonymous_users_are_sent_to_the_login_page(client, tutorial, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={quote(url, safe='/')}"


def test_an_anonymous_post_changes_nothing_and_asks_to_log_in_to_come_back(client, tutorial):
    response = client.post(
        "/heroes/3/team/", {"team": 1, "expected_team": "", "next": "/heroes/3/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/heroes/3/"
    assert team_id(3) is None


@pytest.mark.parametrize("url", PAGES)
def test_users_who_are_not_staff_get_a_403_that_says_why(staff, tutorial, url):
    client = staff("change_hero", is_staff=False)

    response = client.get(url)

    assert response.status_code == 403
    assert NOT_STAFF in text(response)


def test_users_who_are_not_staff_cannot_post_changes(staff, tutorial):
    client = staff("change_hero", is_staff=False)

    response = assign(client)

    assert response.status_code == 403
    assert team_id(3) is None


def test_staff_without_permissions_see_every_page_but_no_control(staff, tutorial):
    client = staff()

    for url in [*PAGES, "/teams/1/?hero_q=Spider"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'method="post"' not in response.content.decode().replace(
            'method="post" action="/accounts/logout/"', ""
        ), url
    assert "Spider-Boy has no team." in text(client.get("/heroes/3/"))


def test_staff_see_only_the_controls_their_permissions_allow(staff, tutorial):
    client = staff("add_heroteamlink")

    page = text(client.get("/heroes/3/"))

    assert "Join Z-Force" in page
    assert "Leave Preventers" not in page
    assert "Assign to Preventers" not in page
    assert "Make full member of Preventers" not in page
    grid = client.get("/memberships/").content.decode()
    assert "data-grid-toggle" not in grid  # toggling needs add and delete


@pytest.mark.parametrize(
    ("post", "needs"),
    [
        (lambda c: assign(c), "the permission heroes.change_hero to assign or clear a hero's team"),
        (
            lambda c: c.post("/heroes/1/team/clear/", {"expected_team": 2}),
            "the permission heroes.change_hero to assign or clear a hero's team",
        ),
        (
            lambda c: membership(c, "join"),
            "the permission heroes.add_heroteamlink to add a hero to a team",
        ),
        (
            lambda c: membership(c, "leave", team=1),
            "the permission heroes.delete_heroteamlink to remove a hero from a team",
        ),
        (
            lambda c: c.post("/heroes/3/training/", {"team": 1, "training": "0"}),
            "the permission heroes.change_heroteamlink to change whether a member is training",
        ),
        (
            lambda c: toggle(c, "join"),
            "the permissions heroes.add_heroteamlink and heroes.delete_heroteamlink"
            " to toggle a membership",
        ),
    ],
)
def test_staff_without_the_permission_get_a_403_naming_it_and_nothing_changes(
    staff, tutorial, post, needs
):
    client = staff("view_hero", "view_team", "view_heroteamlink")

    response = post(client)

    assert response.status_code == 403
    assert f"You need {needs}." in text(response)
    assert (team_id(1), team_id(3)) == (2, None)
    assert links() == TUTORIAL_LINKS


@pytest.mark.parametrize(
    ("permission", "missing"), [("add_heroteamlink", "delete"), ("delete_heroteamlink", "add")]
)
def test_toggling_needs_both_add_and_delete(staff, tutorial, permission, missing):
    client = staff(permission)

    response = toggle(client, "join")

    assert response.status_code == 403
    assert f"You need the permission heroes.{missing}_heroteamlink to toggle a membership." in text(
        response
    )
    assert links() == TUTORIAL_LINKS


def test_staff_with_the_permission_make_the_change(staff, tutorial):
    client = staff("change_hero")

    response = assign(client)

    assert messages_of(response) == [("success", "Spider-Boy is now in Preventers.")]
    assert team_id(3) == 1


def test_joining_needs_only_the_add_permission(staff, tutorial):
    client = staff("add_heroteamlink")

    response = membership(client, "join")

    assert messages_of(response) == [("success", "Spider-Boy joined Z-Force.")]
    assert (3, 2, False) in links()


def test_leaving_needs_only_the_delete_permission(staff, tutorial):
    client = staff("delete_heroteamlink")

    response = membership(client, "leave", team=1)

    assert messages_of(response) == [("success", "Spider-Boy left Preventers.")]
    assert links() == TUTORIAL_LINKS[:3]


@pytest.mark.parametrize("url", CHANGE_URLS)
def test_change_urls_refuse_get_and_change_nothing(admin_client, tutorial, url):
    assert admin_client.get(url).status_code == 405
    assert (team_id(1), team_id(3), links()) == (2, None, TUTORIAL_LINKS)


@pytest.mark.parametrize("url", PAGES)
def test_pages_refuse_post(admin_client, tutorial, url):
    assert admin_client.post(url).status_code == 405


def test_csrf_is_enforced_on_changes(tutorial, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", None)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)

    refused = client.post("/heroes/3/team/", {"team": 1, "expected_team": ""})
    assert refused.status_code == 403
    assert "security token" in text(refused)
    assert team_id(3) is None

    page = client.get("/heroes/3/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    accepted = client.post(
        "/heroes/3/team/", {"team": 1, "expected_team": "", "csrfmiddlewaretoken": token}
    )
    assert accepted.status_code == 302
    assert team_id(3) == 1


# Pages ---------------------------------------------------------------------------------


def rows(response) -> list[str]:
    """Each body row of the page's tables as text."""
    body = "".join(re.findall(r"<tbody>(.*?)</tbody>", response.content.decode(), re.S))
    return [as_text(row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_root_redirects_to_the_hero_list(admin_client, tutorial):
    assert admin_client.get("/")["Location"] == "/heroes/"


def test_hero_list_shows_the_tutorial_table_with_memberships(admin_client, tutorial):
    response = admin_client.get("/heroes/")

    assert rows(response) == [
        "1 Deadpond Dive Wilson unknown Z-Force Preventers (training), Z-Force",
        "2 Rusty-Man Tommy Sharp 48 Preventers Preventers",
        "3 Spider-Boy Pedro Parqueador unknown none Preventers (training)",
    ]
    assert "Next heroes" not in text(response)


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("q=spider", ["Spider-Boy"]),
        ("q=tommy", ["Rusty-Man"]),
        ("team=2", ["Deadpond"]),
        ("team=1", ["Deadpond", "Rusty-Man", "Spider-Boy"]),
        ("team_name=z-force", ["Deadpond"]),
        ("team_name=prev", ["Deadpond", "Rusty-Man", "Spider-Boy"]),
        ("team_name=Preventers&q=rusty", ["Rusty-Man"]),
    ],
)
def test_hero_list_searches_names_and_filters_by_team(admin_client, tutorial, query, names):
    response = admin_client.get(f"/heroes/?{query}")

    assert [row.split()[1] for row in rows(response)] == names


def test_hero_list_filtered_by_team_pages_through_its_heroes_and_members(
    admin_client, tutorial, many_heroes
):
    heroes = sorted(hero.pk for hero in many_heroes(130))
    own, members, both = heroes[::3], heroes[1::3], heroes[2::6]
    Hero.objects.filter(pk__in=own + both).update(team_id=2)
    HeroTeamLink.objects.bulk_create(HeroTeamLink(hero_id=pk, team_id=2) for pk in members + both)
    related = sorted({1, *own, *members, *both})  # Deadpond: Z-Force's and a member

    def shown(response):
        return [int(row.split()[0]) for row in rows(response)]

    pages, url = [], "/heroes/?team=2"
    while url:
        response = admin_client.get(url)
        pages.append(shown(response))
        found = re.search(r'href="([^"]*after=\d+)" rel="next"', response.content.decode())
        url = found[1].replace("&amp;", "&") if found else None
    assert [len(page) for page in pages] == [50, 50, len(related) - 100]
    assert [pk for page in pages for pk in page] == related  # each once, in order
    back = admin_client.get(f"/heroes/?team=2&before={pages[2][0]}")
    assert shown(back) == pages[1]
    names = dict(Hero.objects.values_list("pk", "name"))
    searched = admin_client.get("/heroes/?team=2&q=extra-1")
    expected = [pk for pk in related if "extra-1" in names[pk].lower()]
    assert 0 < len(expected) < len(related)
    assert shown(searched) == expected


def test_hero_list_offers_a_choice_when_the_team_text_matches_several_teams(admin_client, tutorial):
    Team.objects.create(name="Preventers Junior", headquarters="Sharp Tower, floor 2")
    Team.objects.create(name="Junior Force", headquarters="Garage")

    response = admin_client.get("/heroes/?team_name=o")

    assert 'Several teams match "o"' in text(response)
    content = response.content.decode()
    assert '<a href="/heroes/?team=2">Z-Force</a>' in content
    assert rows(response) == []


def test_a_team_named_exactly_is_chosen_over_others_that_contain_the_text(admin_client, tutorial):
    Team.objects.create(name="Preventers Junior", headquarters="Sharp Tower, floor 2")

    response = admin_client.get("/heroes/?team_name=preventers")

    assert "Heroes whose team is Preventers or who are its members." in text(response)
    assert len(rows(response)) == 3


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("team=99", "There is no team with id 99."),
        ("team=abc", "Choose a team from the list."),
        ("team=99999999999999999999", "There is no team with id 99999999999999999999."),
        ("team_name=Nobody", 'No team name contains "Nobody".'),
    ],
)
def test_hero_list_says_when_the_team_filter_is_wrong(admin_client, tutorial, query, error):
    response = admin_client.get(f"/heroes/?{query}")

    assert response.status_code == 200
    assert error in text(response)
    assert rows(response) == []


def test_hero_list_pages_by_id_without_counting(admin_client, tutorial, many_heroes):
    many_heroes(120)
    last = Hero.objects.order_by("pk").values_list("pk", flat=True)

    first = admin_client.get("/heroes/")
    assert len(rows(first)) == 50
    assert f'href="/heroes/?after={last[49]}"' in first.content.decode()

    second = admin_client.get(f"/heroes/?after={last[49]}")
    assert rows(second)[0].startswith(f"{last[50]} Extra-47")
    assert f'href="/heroes/?before={last[50]}"' in second.content.decode()

    back = admin_client.get(f"/heroes/?before={last[50]}")
    assert rows(back) == rows(first)

    final = admin_client.get(f"/heroes/?after={last[99]}")
    assert len(rows(final)) == 23
    assert "Next heroes" not in text(final)


@pytest.mark.parametrize("query", ["after=abc", "before=1.5", "after=99999999999999999999999"])
def test_a_malformed_page_cursor_is_a_bad_request(admin_client, tutorial, query):
    assert admin_client.get(f"/heroes/?{query}").status_code == 400


def test_hero_page_shows_the_hero_team_memberships_and_teams_to_choose(admin_client, tutorial):
    response = admin_client.get("/heroes/1/")

    page = text(response)
    assert "Deadpond's team is Z-Force." in page
    assert "Clear Deadpond's team" in page
    assert rows(response) == [
        # memberships
        f"Preventers Training {today()} Leave Preventers Make full member of Preventers",
        f"Z-Force Full member {today()} Leave Z-Force Mark as training in Z-Force",
        # teams to choose
        "Preventers Sharp Tower Assign to Preventers Training",
        "Z-Force Sister Margaret's Bar Current team Full member",
    ]


def today():
    return HeroTeamLink.objects.first().created_at.strftime("%Y-%m-%d")


def test_hero_page_searches_teams_and_shows_at_most_twenty(admin_client, tutorial):
    Team.objects.bulk_create(Team(name=f"Squad {i:02}", headquarters="Base") for i in range(25))

    response = admin_client.get("/heroes/3/?team_q=squad")

    found = [row for row in rows(response) if row.startswith("Squad")]
    assert len(found) == 20
    assert found[0] == "Squad 00 Base Assign to Squad 00 Join Squad 00"
    assert "Only the first 20 teams are shown" in text(response)
    assert "No team name contains" in text(admin_client.get("/heroes/3/?team_q=nothing"))


@pytest.mark.parametrize("url", ["/heroes/99/", "/heroes/abc/", "/teams/99/", "/teams/x/"])
def test_unknown_or_malformed_ids_are_not_found(admin_client, tutorial, url):
    response = admin_client.get(url)

    assert response.status_code == 404
    assert "There is nothing at this address" in text(response)


def test_team_list_shows_counts_and_searches(admin_client, tutorial):
    assert rows(admin_client.get("/teams/")) == [
        "Preventers Sharp Tower 1 3",
        "Z-Force Sister Margaret's Bar 1 1",
    ]
    assert rows(admin_client.get("/teams/?q=force")) == ["Z-Force Sister Margaret's Bar 1 1"]


def test_team_list_pages_by_name(admin_client, tutorial):
    Team.objects.bulk_create(Team(name=f"Squad {i:02}", headquarters="Base") for i in range(60))

    first = admin_client.get("/teams/")
    assert len(rows(first)) == 50
    assert 'href="/teams/?after=Squad+48"' in first.content.decode()  # after Preventers
    second = admin_client.get("/teams/?after=Squad+48")
    assert len(rows(second)) == 12
    assert rows(second)[0] == "Squad 49 Base 0 0"
    assert rows(second)[-1] == "Z-Force Sister Margaret's Bar 1 1"
    assert 'href="/teams/?before=Squad+49"' in second.content.decode()


def test_team_page_shows_its_heroes_and_its_members(admin_client, tutorial):
    response = admin_client.get("/teams/1/")

    assert rows(response) == [
        "2 Rusty-Man Tommy Sharp 48",
        f"Deadpond Training {today()} Remove Deadpond from Preventers Make Deadpond a full member",
        f"Rusty-Man Full member {today()} Remove Rusty-Man from Preventers"
        " Mark Rusty-Man as training",
        f"Spider-Boy Training {today()} Remove Spider-Boy from Preventers"
        " Make Spider-Boy a full member",
    ]


def test_team_page_pages_through_a_large_membership(admin_client, tutorial, many_heroes):
    heroes = many_heroes(45)
    HeroTeamLink.objects.bulk_create(HeroTeamLink(hero=hero, team_id=2) for hero in heroes)

    first = admin_client.get("/teams/2/")
    members = [row for row in rows(first) if "Remove" in row]
    assert len(members) == 20
    assert members[0].startswith("Deadpond Full member")
    page = first.content.decode()
    after = re.search(r'href="/teams/2/\?mafter=(\d+)"', page)[1]

    second = admin_client.get(f"/teams/2/?mafter={after}")
    assert len([row for row in rows(second) if "Remove" in row]) == 20
    assert "Previous members" in text(second)


def test_team_page_pages_through_its_heroes_both_ways(admin_client, tutorial, many_heroes):
    heroes = many_heroes(45)
    Hero.objects.filter(pk__in=[hero.pk for hero in heroes]).update(team_id=2)
    ids = [1, *sorted(hero.pk for hero in heroes)]  # Deadpond's team is Z-Force too

    def shown(response):
        return [int(row.split()[0]) for row in rows(response) if row.split()[0].isdigit()]

    first = admin_client.get("/teams/2/")
    assert shown(first) == ids[:20]
    after = re.search(r'href="/teams/2/\?hafter=(\d+)"', first.content.decode())[1]
    assert int(after) == ids[19]
    second = admin_client.get(f"/teams/2/?hafter={after}")
    assert shown(second) == ids[20:40]
    before = re.search(r'href="/teams/2/\?hbefore=(\d+)"', second.content.decode())[1]
    assert shown(admin_client.get(f"/teams/2/?hbefore={before}")) == ids[:20]
    last = admin_client.get(f"/teams/2/?hafter={ids[39]}")
    assert shown(last) == ids[40:]
    assert "Next heroes" in text(second)
    assert "Next heroes" not in text(last)


def test_team_page_without_heroes_on_the_page_still_shows_the_team(admin_client, tutorial):
    beyond = admin_client.get("/teams/2/?hafter=999999")
    assert beyond.status_code == 200
    assert "No hero has Z-Force as their team on this page." in text(beyond)
    assert "Sister Margaret" in text(beyond)

    Hero.objects.update(team=None)
    empty = admin_client.get("/teams/1/")
    assert "No hero has Preventers as their team." in text(empty)
    assert "Sharp Tower" in text(empty)


def test_team_page_finds_heroes_to_add(admin_client, tutorial):
    response = admin_client.get("/teams/2/?hero_q=o")

    assert [row for row in rows(response) if "(id" in row] == [
        "Deadpond (id 1) Dive Wilson Full member",
        "Rusty-Man (id 2) Tommy Sharp Add Rusty-Man to Z-Force",
        "Spider-Boy (id 3) Pedro Parqueador Add Spider-Boy to Z-Force",
    ]


def test_team_page_keeps_its_heroes_while_searching_heroes_to_add(admin_client, tutorial):
    response = admin_client.get("/teams/1/?hero_q=o")

    assert "No hero has Preventers as their team" not in text(response)
    assert response.context["heroes"].rows == [Hero.objects.get(name="Rusty-Man")]


def test_team_page_search_shows_the_closest_names_first_among_many(
    admin_client, tutorial, monkeypatch
):
    monkeypatch.setattr(views, "SEARCH_CANDIDATES", 3)  # of each kind: exact, prefix, others
    Hero.objects.bulk_create(
        [
            *(Hero(name=f"Ultra-Mantis {i}", secret_name="x") for i in range(10)),
            *(Hero(name=f"Mantis {i}", secret_name="x") for i in range(2)),
            Hero(name="mantis", secret_name="x"),
        ]
    )

    response = admin_client.get("/teams/2/?hero_q=Mantis")

    found = [row.split(" (id")[0] for row in rows(response) if "(id" in row]
    assert found[:3] == ["mantis", "Mantis 0", "Mantis 1"]
    assert len(found) == 6  # and 3 of the 10 others
    assert all(name.startswith("Ultra-Mantis") for name in found[3:])


def test_grid_shows_a_cell_per_pair_with_a_button_that_toggles_it(admin_client, tutorial):
    response = admin_client.get("/memberships/")

    assert rows(response) == [
        "Deadpond Training Remove Deadpond from Preventers Member Remove Deadpond from Z-Force",
        f"Rusty-Man Member Remove Rusty-Man from Preventers {DASH}Not a member"
        " Add Rusty-Man to Z-Force",
        f"Spider-Boy Training Remove Spider-Boy from Preventers {DASH}Not a member"
        " Add Spider-Boy to Z-Force",
    ]
    content = response.content.decode()
    cell = re.search(r'<td id="cell-3-2".*?</td>', content, re.S)[0]
    assert '<button type="submit" name="cell" value="join 3 2"' in cell
    # One form for the grid: its token and the page to come back to, once.
    assert content.count('<input type="hidden" name="next" value="/memberships/">') == 1
    assert content.count('name="csrfmiddlewaretoken"') == 2  # the grid's and logout's
    assert "heroes/grid.js" in content


def test_a_grid_button_posts_its_cell(admin_client, tutorial):
    grid = "/memberships/?hq=spider"

    on = admin_client.post("/memberships/toggle/", {"cell": "join 3 2", "next": grid}, follow=True)
    assert on.redirect_chain == [(f"{grid}#cell-3-2", 302)]
    assert messages_of(on) == [("success", "Spider-Boy joined Z-Force.")]

    off = admin_client.post("/memberships/toggle/", {"cell": "leave 3 2"}, follow=True)
    assert messages_of(off) == [("success", "Spider-Boy left Z-Force.")]
    assert links() == TUTORIAL_LINKS


@pytest.mark.parametrize("cell", ["", "join", "join 3", "flip 3 2", "join 3 2 1", "join x 2"])
def test_a_bad_grid_cell_changes_nothing(admin_client, tutorial, cell):
    response = admin_client.post("/memberships/toggle/", {"cell": cell}, follow=True)

    assert response.status_code == 200
    assert [level for level, _ in messages_of(response)] == ["error"]
    assert links() == TUTORIAL_LINKS


def test_grid_filters_and_pages_on_both_axes(admin_client, tutorial, many_heroes):
    many_heroes(30)
    Team.objects.bulk_create(Team(name=f"Squad {i:02}", headquarters="Base") for i in range(12))

    first = admin_client.get("/memberships/?hq=extra&tq=squad")
    page = first.content.decode()
    assert len(rows(first)) == 20
    assert page.count('<th scope="col"><a href="/teams/') == 8
    assert 'href="/memberships/?hq=extra&amp;tq=squad&amp;tafter=Squad+07"' in page

    later = admin_client.get("/memberships/?hq=extra&tq=squad&tafter=Squad+07&hafter=23")
    later_page = later.content.decode()
    assert later_page.count('<th scope="col"><a href="/teams/') == 4
    assert [row.split()[0] for row in rows(later)] == [f"Extra-{i}" for i in range(20, 30)]
    assert (
        '<input type="hidden" name="next"'
        ' value="/memberships/?hq=extra&amp;tq=squad&amp;tafter=Squad+07&amp;hafter=23">'
    ) in later_page


def test_grid_says_when_nothing_matches(admin_client, tutorial):
    assert 'No heroes match "zzz".' in text(admin_client.get("/memberships/?hq=zzz"))
    assert 'No teams match "zzz".' in text(admin_client.get("/memberships/?tq=zzz"))


# Changes -------------------------------------------------------------------------------


def test_assigning_a_team_redirects_back_with_a_message_the_sql_and_history(
    admin_client, transactional_db, tutorial
):
    # transactional_db: the change runs in its own transaction, as it does in production.
    response = admin_client.post(
        "/heroes/3/team/", {"team": 1, "expected_team": "", "next": "/heroes/3/?team_q=prev"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/heroes/3/?team_q=prev"
    assert team_id(3) == 1

    page = admin_client.get(response["Location"])
    assert messages_of(page) == [("success", "Spider-Boy is now in Preventers.")]
    assert panel_sql(page)[0] == "BEGIN"
    assert 'UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s' in panel_sql(page)
    assert panel_sql(page)[-1] == "COMMIT"
    assert "[" in text(page) and "(1, 3)" in text(page)  # the UPDATE's timing and parameters
    assert "Spider-Boy's team is Preventers." in text(page)
    change = ChangeSet.objects.get()  # recorded by the service, with who and from where
    assert (change.user.username, change.actor, change.source) == ("admin", "admin", "page")
    assert (
        f"#{change.pk} {change.created_at:%Y-%m-%d %H:%M} admin Staff pages"
        " Spider-Boy is now in Preventers. team no team → Preventers"
    ) in text(page)  # the history section
    assert not LogEntry.objects.exists()  # the change set is the history

    again = admin_client.get("/heroes/3/")
    assert panel_sql(again) == []  # the panel shows once


def test_clearing_a_team(admin_client, tutorial):
    response = admin_client.post("/heroes/2/team/clear/", {"expected_team": 1}, follow=True)

    assert response.redirect_chain == [("/heroes/2/", 302)]
    assert messages_of(response) == [("success", "Rusty-Man is no longer in Preventers.")]
    assert 'UPDATE "hero" SET "team_id" = NULL WHERE "hero"."id" = %s' in panel_sql(response)
    assert team_id(2) is None
    assert links() == TUTORIAL_LINKS


def test_joining_leaving_and_training(admin_client, tutorial):
    joined = membership(admin_client, "join")
    assert messages_of(joined) == [("success", "Spider-Boy joined Z-Force.")]
    assert any(s.startswith('INSERT INTO "heroteamlink"') for s in panel_sql(joined))
    assert (3, 2, False) in links()

    trained = admin_client.post("/heroes/3/training/", {"team": 2, "training": "1"}, follow=True)
    assert messages_of(trained) == [("success", "Spider-Boy is now training in Z-Force.")]
    assert any(s.startswith('UPDATE "heroteamlink" SET "is_training"') for s in panel_sql(trained))
    assert (3, 2, True) in links()

    left = membership(admin_client, "leave")
    assert messages_of(left) == [("success", "Spider-Boy left Z-Force.")]
    assert any(s.startswith('DELETE FROM "heroteamlink"') for s in panel_sql(left))
    assert links() == TUTORIAL_LINKS


def test_adding_a_member_from_the_team_page_comes_back_to_it(admin_client, tutorial):
    response = membership(admin_client, "join", hero=2, next="/teams/2/?hero_q=o")

    assert response.redirect_chain == [("/teams/2/?hero_q=o", 302)]
    assert messages_of(response) == [("success", "Rusty-Man joined Z-Force.")]
    assert "Rusty-Man (id 2) Tommy Sharp Full member" in rows(response)


def test_toggling_a_grid_cell_comes_back_to_the_same_grid_at_that_cell(admin_client, tutorial):
    grid = "/memberships/?hq=spider"

    on = toggle(admin_client, "join", next=grid)
    assert on.redirect_chain == [(f"{grid}#cell-3-2", 302)]
    assert messages_of(on) == [("success", "Spider-Boy joined Z-Force.")]
    assert rows(on) == [
        "Spider-Boy Training Remove Spider-Boy from Preventers Member"
        " Remove Spider-Boy from Z-Force"
    ]
    assert any(s.startswith('INSERT INTO "heroteamlink"') for s in panel_sql(on))

    off = toggle(admin_client, "leave", next=grid)
    assert messages_of(off) == [("success", "Spider-Boy left Z-Force.")]
    assert links() == TUTORIAL_LINKS


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "heroes/1/"])
def test_redirects_stay_on_the_site(admin_client, tutorial, next_url):
    response = admin_client.post(
        "/heroes/3/team/", {"team": 1, "expected_team": "", "next": next_url}
    )

    assert response["Location"] == "/heroes/3/"


# Stale forms and bad input -------------------------------------------------------------


def test_a_stale_assign_form_changes_nothing_and_says_what_changed(admin_client, tutorial):
    Hero.objects.filter(pk=3).update(team_id=2)  # someone else got there first

    response = assign(admin_client, expected="")

    assert messages_of(response) == [
        ("warning", f"Spider-Boy's team is now Z-Force. {OUT_OF_DATE}")
    ]
    assert panel_sql(response) == []
    assert team_id(3) == 2
    assert "Spider-Boy's team is Z-Force." in text(response)


def test_a_stale_clear_form_changes_nothing(admin_client, tutorial):
    Hero.objects.filter(pk=1).update(team_id=None)

    response = admin_client.post("/heroes/1/team/clear/", {"expected_team": 2}, follow=True)

    assert messages_of(response) == [("warning", f"Deadpond now has no team. {OUT_OF_DATE}")]
    assert team_id(1) is None


def test_a_stale_join_does_not_undo_the_newer_change(admin_client, tutorial, spider_boy, z_force):
    HeroTeamLink.objects.create(hero=spider_boy, team=z_force)

    response = toggle(admin_client, "join")

    assert messages_of(response) == [
        ("warning", f"Spider-Boy is already a member of Z-Force. {OUT_OF_DATE}")
    ]
    assert (3, 2, False) in links()


def test_a_stale_leave_does_not_undo_the_newer_change(admin_client, tutorial):
    response = membership(admin_client, "leave")

    assert messages_of(response) == [
        ("warning", f"Spider-Boy is not a member of Z-Force. {OUT_OF_DATE}")
    ]
    assert links() == TUTORIAL_LINKS


def test_a_stale_training_form_changes_nothing(admin_client, tutorial):
    response = admin_client.post("/heroes/3/training/", {"team": 1, "training": "1"}, follow=True)

    assert messages_of(response) == [
        ("warning", f"Spider-Boy is already training in Preventers. {OUT_OF_DATE}")
    ]
    assert links() == TUTORIAL_LINKS


def test_a_service_error_becomes_an_error_message(admin_client, tutorial):
    response = admin_client.post("/heroes/3/training/", {"team": 2, "training": "1"}, follow=True)

    assert response.status_code == 200
    assert messages_of(response) == [("error", "Spider-Boy is not a member of Z-Force.")]
    assert links() == TUTORIAL_LINKS


@pytest.mark.parametrize(
    ("url", "data", "error"),
    [
        ("/heroes/3/team/", {"team": 99, "expected_team": ""}, NO_TEAM),
        ("/heroes/3/team/", {"team": "abc", "expected_team": ""}, NO_TEAM),
        ("/heroes/3/team/", {"team": 99999999999999999999999, "expected_team": ""}, NO_TEAM),
        ("/heroes/3/team/", {"expected_team": ""}, "Choose a team."),
        ("/heroes/3/team/", {"team": 1}, INCOMPLETE),
        ("/heroes/3/team/", {"team": 1, "expected_team": "x"}, INCOMPLETE),
        ("/heroes/1/team/clear/", {}, INCOMPLETE),
        (
            "/heroes/3/memberships/",
            {"team": 2, "action": "toggle"},
            "Choose whether to join or leave.",
        ),
        ("/heroes/3/memberships/", {"team": 2}, "Choose whether to join or leave."),
        ("/heroes/3/memberships/", {"team": 77, "action": "join"}, NO_TEAM),
        ("/heroes/3/training/", {"team": 1, "training": "maybe"}, INCOMPLETE),
        ("/heroes/3/training/", {"team": 1}, INCOMPLETE),
        ("/memberships/toggle/", {"hero": 3, "team": 2}, "Choose whether to join or leave."),
        (
            "/memberships/toggle/",
            {"hero": 42, "team": 2, "action": "join"},
            "That hero does not exist: it may have been deleted.",
        ),
        (
            "/memberships/toggle/",
            {"hero": "x", "team": "y", "action": "join"},
            f"That hero does not exist: it may have been deleted. {NO_TEAM}",
        ),
    ],
)
def test_bad_input_is_reported_and_changes_nothing(admin_client, tutorial, url, data, error):
    response = admin_client.post(url, data, follow=True)

    assert response.status_code == 200
    assert messages_of(response) == [("error", error)]
    assert (team_id(1), team_id(2), team_id(3)) == (2, 1, None)
    assert links() == TUTORIAL_LINKS


@pytest.mark.parametrize(
    "url",
    [
        "/heroes/99/team/",
        "/heroes/99/team/clear/",
        "/heroes/99/memberships/",
        "/heroes/99/training/",
        "/heroes/abc/team/",
    ],
)
def test_changes_to_an_unknown_hero_are_not_found(admin_client, tutorial, url):
    response = admin_client.post(url, {"team": 1, "expected_team": "", "action": "join"})

    assert response.status_code == 404
    assert links() == TUTORIAL_LINKS


# Query counts ----------------------------------------------------------------------------


@pytest.fixture(params=["tutorial", "larger"])
def data_size(request, tutorial, many_heroes):
    """The tutorial's data, and the same with 120 more heroes, 30 more teams and 420 links."""
    if request.param == "larger":
        teams = Team.objects.bulk_create(
            Team(name=f"Squad {i:02}", headquarters="Base") for i in range(30)
        )
        heroes = list(many_heroes(120))
        for index, hero in enumerate(heroes):
            hero.team = teams[index % 30]
        Hero.objects.bulk_update(heroes, ["team"])
        HeroTeamLink.objects.bulk_create(
            HeroTeamLink(hero=hero, team=teams[(index + shift) % 30])
            for index, hero in enumerate(heroes)
            for shift in range(3)
        )
        HeroTeamLink.objects.bulk_create(
            HeroTeamLink(hero=hero, team_id=1) for hero in heroes[:100]
        )
    return request.param


PAGE_QUERIES = [
    # session, user, then the page's own reads
    ("/heroes/", 4),  # heroes, their memberships
    ("/heroes/?q=e&team_name=Preventers&after=1", 5),  # the team, heroes, memberships
    ("/heroes/1/", 5),  # hero with team and memberships, teams, history
    ("/heroes/1/?team_q=squad", 5),
    ("/teams/", 3),  # teams with counts
    ("/teams/1/", 5),  # team with its heroes, members, history
    ("/teams/1/?hero_q=extra&mafter=2", 6),  # and the heroes found
    ("/memberships/", 5),  # heroes, teams, links between them
    ("/memberships/?hq=e&tq=r&hafter=1&tafter=A", 5),
]


@pytest.mark.parametrize(("url", "queries"), PAGE_QUERIES)
def test_pages_run_a_fixed_number_of_queries_whatever_the_size(
    admin_client, data_size, django_assert_num_queries, url, queries
):
    with django_assert_num_queries(queries):
        response = admin_client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize(("url", "queries"), PAGE_QUERIES)
def test_staff_pages_read_their_permissions_with_the_user(
    staff, data_size, django_assert_num_queries, url, queries
):
    client = staff(
        "change_hero",
        "add_heroteamlink",
        "delete_heroteamlink",
        "change_heroteamlink",
        "view_changeset",
    )

    # The superuser's counts: the permissions are subqueries of the user's query.
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200


def test_the_page_after_a_change_runs_only_its_reads(
    admin_client, data_size, django_assert_num_queries
):
    admin_client.post("/heroes/3/team/", {"team": 1, "expected_team": ""})

    # The panel came in a cookie: the session is read, not written.
    with django_assert_num_queries(5):
        response = admin_client.get("/heroes/3/")
    assert 'UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s' in panel_sql(response)


@pytest.mark.parametrize("url", ["/heroes/", "/heroes/{hero}/", "/teams/{team}/", "/memberships/"])
def test_names_are_escaped_on_every_page(admin_client, url):
    team = Team.objects.create(name='<b>"Z"</b> & Co', headquarters="<i>HQ</i>")
    hero = Hero.objects.create(
        name="<script>alert(1)</script>", secret_name="<em>x</em>", team=team
    )
    HeroTeamLink.objects.create(hero=hero, team=team)

    content = admin_client.get(url.format(hero=hero.pk, team=team.pk)).content.decode()

    assert "<script>alert" not in content
    assert "<b>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;b&gt;&quot;Z&quot;&lt;/b&gt; &amp; Co" in content
