"""Management commands: output, exit status, and an unchanged database on every error."""

import pytest
from django.core.management import ManagementUtility, base

from heroes.models import Hero, HeroTeamLink

SPIDER_BOY = "Hero(id=3, name='Spider-Boy', secret_name='Pedro Parqueador', age=None, team_id={})"
DEADPOND = "Hero(id=1, name='Deadpond', secret_name='Dive Wilson', age=None, team_id=2)"
PREVENTERS = "Team(id=1, name='Preventers', headquarters='Sharp Tower')"
Z_FORCE = "Team(id=2, name='Z-Force', headquarters=\"Sister Margaret's Bar\")"


@pytest.fixture
def manage(capsys, monkeypatch):
    """Run `manage.py ARGS` in-process: returns (exit status, stdout, stderr)."""
    # run_from_argv closes every connection when done, the test's own included.
    monkeypatch.setattr(base.connections, "close_all", lambda: None)

    def run(*argv):
        try:
            ManagementUtility(["manage.py", *argv]).execute()
            status = 0
        except SystemExit as exit_:
            status = exit_.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


def snapshot():
    return (
        list(Hero.objects.values_list("pk", "team_id").order_by("pk")),
        sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training")),
    )


def test_tutorial_prints_the_chapters_lines_in_order(tutorial, manage):
    status, out, err = manage("tutorial")

    assert (status, err) == (0, "")
    assert out.splitlines() == [
        f"Updated hero: {SPIDER_BOY.format(1)}",
        f"No longer Preventer: {SPIDER_BOY.format(None)}",
        f"Updated Spider-Boy's Teams: [{PREVENTERS}, {Z_FORCE}]",
        f"Z-Force heroes: [{DEADPOND}, {SPIDER_BOY.format(None)}]",
        f"Reverted Z-Force's heroes: [{DEADPOND}]",
        f"Reverted Spider-Boy's teams: [{PREVENTERS}]",
    ]


def test_tutorial_loads_the_tutorial_data_when_missing(db, manage):
    status, out, _ = manage("tutorial")
    assert status == 0
    assert out.splitlines()[0] == f"Updated hero: {SPIDER_BOY.format(1)}"


def test_tutorial_with_sql_shows_each_change_between_its_lines(tutorial, manage):
    status, out, _ = manage("tutorial", "--sql")
    lines = out.splitlines()

    assert status == 0
    updated = lines.index(f"Updated hero: {SPIDER_BOY.format(1)}")
    no_longer = lines.index(f"No longer Preventer: {SPIDER_BOY.format(None)}")
    between = lines[updated + 1 : no_longer]
    assert 'UPDATE "hero" SET "team_id" = NULL WHERE "hero"."id" = %s' in between
    assert any(line.endswith("] (3,)") for line in between)
    before = lines[:updated]
    assert 'UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s' in before
    assert any(line.endswith("] (1, 3)") for line in before)
    teams = lines.index(f"Updated Spider-Boy's Teams: [{PREVENTERS}, {Z_FORCE}]")
    assert any(line.startswith('INSERT INTO "heroteamlink"') for line in lines[no_longer:teams])
    reverted = lines.index(f"Reverted Z-Force's heroes: [{DEADPOND}]")
    assert any(line.startswith('DELETE FROM "heroteamlink"') for line in lines[teams:reverted])


def test_assign_team_prints_the_updated_hero(tutorial, manage):
    assert manage("assign_team", "Spider-Boy", "Preventers") == (
        0,
        f"Updated hero: {SPIDER_BOY.format(1)}\n",
        "",
    )


def test_assign_team_accepts_ids(tutorial, manage):
    status, out, _ = manage("assign_team", "3", "2")
    assert (status, out) == (0, f"Updated hero: {SPIDER_BOY.format(2)}\n")


@pytest.mark.django_db(transaction=True)
def test_assign_team_with_sql_echoes_the_update(tutorial, manage):
    status, out, _ = manage("assign_team", "Spider-Boy", "Preventers", "--sql")
    lines = out.splitlines()
    assert status == 0
    update = lines.index('UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s')
    assert lines[update + 1].endswith("s] (1, 3)")
    assert "BEGIN" in lines[:update]
    assert lines[-2:] == ["COMMIT", f"Updated hero: {SPIDER_BOY.format(1)}"]


def test_clear_team_names_the_old_team(tutorial, manage):
    status, out, _ = manage("clear_team", "Rusty-Man")
    assert (status, out) == (
        0,
        "No longer Preventers: Hero(id=2, name='Rusty-Man', secret_name='Tommy Sharp', "
        "age=48, team_id=None)\n",
    )


def test_clearing_an_empty_team_says_so_and_changes_nothing(tutorial, manage):
    before = snapshot()
    assert manage("clear_team", "Spider-Boy") == (0, "Spider-Boy has no team.\n", "")
    assert snapshot() == before


def test_join_team_prints_the_heros_teams(tutorial, manage):
    status, out, _ = manage("join_team", "Spider-Boy", "Z-Force", "--training")
    assert status == 0
    assert out.splitlines() == [
        "Spider-Boy joined Z-Force as a trainee.",
        f"Spider-Boy's teams: [{PREVENTERS}, {Z_FORCE}]",
    ]
    assert HeroTeamLink.objects.get(hero_id=3, team_id=2).is_training


def test_joining_twice_says_so_exits_0_and_changes_nothing(tutorial, manage):
    manage("join_team", "Spider-Boy", "Z-Force")
    before = snapshot()
    status, out, _ = manage("join_team", "Spider-Boy", "Z-Force")
    assert status == 0
    assert out.splitlines()[0] == "Spider-Boy is already a member of Z-Force."
    assert snapshot() == before


def test_leave_team_prints_the_heros_teams(tutorial, manage):
    status, out, _ = manage("leave_team", "Deadpond", "Z-Force")
    assert (status, out.splitlines()) == (
        0,
        ["Deadpond left Z-Force.", f"Deadpond's teams: [{PREVENTERS}]"],
    )


def test_toggle_team_joins_then_leaves(tutorial, manage):
    assert manage("toggle_team", "Spider-Boy", "Z-Force")[1].splitlines()[0] == (
        "Spider-Boy joined Z-Force."
    )
    assert manage("toggle_team", "Spider-Boy", "Z-Force")[1].splitlines() == [
        "Spider-Boy left Z-Force.",
        f"Spider-Boy's teams: [{PREVENTERS}]",
    ]


def test_list_heroes_prints_the_tutorial_table(tutorial, manage):
    status, out, _ = manage("list_heroes")
    assert status == 0
    assert out.splitlines() == [
        "id | name       | secret_name      | age  | team       | memberships",
        "---+------------+------------------+------+------------+------------",
        "1  | Deadpond   | Dive Wilson      | null | Z-Force    | Preventers (training), Z-Force",
        "2  | Rusty-Man  | Tommy Sharp      | 48   | Preventers | Preventers",
        "3  | Spider-Boy | Pedro Parqueador | null | null       | Preventers (training)",
        "(3 heroes)",
    ]


def test_list_heroes_of_a_team_keeps_its_heroes_and_members(tutorial, manage):
    _, out, _ = manage("list_heroes", "--team", "Z-Force")
    assert [line.split(" | ")[1].strip() for line in out.splitlines()[2:-1]] == ["Deadpond"]
    _, out, _ = manage("list_heroes", "--team", "Preventers")
    assert out.splitlines()[-1] == "(3 heroes)"


def test_list_teams_counts_heroes_and_members(tutorial, manage):
    status, out, _ = manage("list_teams")
    assert status == 0
    assert out.splitlines() == [
        "id | name       | headquarters          | heroes | members",
        "---+------------+-----------------------+--------+--------",
        "1  | Preventers | Sharp Tower           | 1      | 3",
        "2  | Z-Force    | Sister Margaret's Bar | 1      | 1",
        "(2 teams)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["assign_team", "Spider", "Preventers"],
            'No hero with id or name "Spider". Names containing it: Spider-Boy.',
        ),
        (
            ["join_team", "Spider-Boy", "force"],
            'No team with id or name "force". Names containing it: Z-Force.',
        ),
        (
            ["toggle_team", "99", "Z-Force"],
            'No hero with id or name "99", and no name contains it.',
        ),
        (
            ["clear_team", "Nobody"],
            'No hero with id or name "Nobody", and no name contains it.',
        ),
        (
            ["list_heroes", "--team", "Avengers"],
            'No team with id or name "Avengers", and no name contains it.',
        ),
    ],
)
def test_unknown_names_fail_with_candidates_exit_1_and_change_nothing(
    tutorial, manage, argv, message
):
    before = snapshot()
    status, out, err = manage(*argv)
    assert (status, out) == (1, "")
    assert err == f"CommandError: {message}\n"
    assert snapshot() == before


def test_an_ambiguous_name_lists_every_match_with_its_id(tutorial, manage):
    Hero.objects.create(name="Deadpond", secret_name="Wade", age=30)
    before = snapshot()
    status, _, err = manage("join_team", "Deadpond", "Z-Force")
    assert status == 1
    assert err == (
        'CommandError: 2 heroes are named "Deadpond": Deadpond (id 1), Deadpond (id 4). '
        "Give the id instead.\n"
    )
    assert snapshot() == before


def test_setting_training_of_a_non_member_is_an_error(tutorial, manage):
    # join_team --training on an existing member does not silently flip training.
    status, out, _ = manage("join_team", "Rusty-Man", "Preventers", "--training")
    assert status == 0
    assert out.splitlines()[0] == "Rusty-Man is already a member of Preventers."
    assert not HeroTeamLink.objects.get(hero_id=2, team_id=1).is_training


@pytest.mark.parametrize(
    "argv", [["assign_team", "Spider-Boy"], ["clear_team"], ["toggle_team", "1", "2", "--bogus"]]
)
def test_wrong_usage_prints_usage_and_exits_2(tutorial, manage, argv):
    before = snapshot()
    status, _, err = manage(*argv)
    assert status == 2
    assert err.startswith("usage: manage.py")
    assert snapshot() == before


def test_a_name_with_a_nul_character_is_refused_cleanly(tutorial, manage):
    status, _, err = manage("clear_team", "Spider\x00Boy")
    assert status == 1
    assert (
        err == "CommandError: No hero with id or name 'Spider\\x00Boy': names cannot contain NUL.\n"
    )


@pytest.mark.parametrize("text", ["\N{SUPERSCRIPT TWO}", "\N{ARABIC-INDIC DIGIT ONE}", "9" * 20])
def test_digits_that_are_no_id_are_looked_up_as_names(tutorial, manage, text):
    # A superscript two is a digit to str.isdigit() but not to int(); an Arabic-Indic
    # one is a digit to both, but no one types it for an id; 20 nines fit no column.
    before = snapshot()
    status, out, err = manage("join_team", "1", text)
    assert (status, out) == (1, "")
    assert err == f'CommandError: No team with id or name "{text}", and no name contains it.\n'
    assert snapshot() == before
