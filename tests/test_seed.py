"""seed_heroes: the tutorial's data, and the synthetic data set with its progress bar."""

import collections
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count

from heroes import seed, synthetic
from heroes.models import Hero, HeroTeamLink, Team

TUTORIAL_TEAMS = [(1, "Preventers", "Sharp Tower"), (2, "Z-Force", "Sister Margaret's Bar")]
TUTORIAL_HEROES = [
    (1, "Deadpond", "Dive Wilson", None, 2),
    (2, "Rusty-Man", "Tommy Sharp", 48, 1),
    (3, "Spider-Boy", "Pedro Parqueador", None, None),
]
TUTORIAL_LINKS = [(1, 1, True), (1, 2, False), (2, 1, False), (3, 1, True)]
SUMMARY = re.compile(r"Created 10 teams, 200 heroes and 500 memberships in \d+\.\d s\.\n")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, as a developer's shell is."""

    def isatty(self):
        return True


def seed_heroes(*args, stderr=None, **options):
    """Run the command; return its stdout and stderr."""
    stdout, stderr = io.StringIO(), stderr or io.StringIO()
    call_command("seed_heroes", *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def generate(*args, **options):
    options = {"heroes": 200, "teams": 10, "links": 500, **options}
    return seed_heroes(*args, **options)


def tables():
    """Every team, hero and link, ids included (link ids and times left out)."""
    return (
        list(Team.objects.order_by("pk").values_list("pk", "name", "headquarters")),
        list(
            Hero.objects.order_by("pk").values_list("pk", "name", "secret_name", "age", "team_id")
        ),
        list(
            HeroTeamLink.objects.order_by("hero_id", "team_id").values_list(
                "hero_id", "team_id", "is_training"
            )
        ),
    )


def counts():
    return Team.objects.count(), Hero.objects.count(), HeroTeamLink.objects.count()


def test_seed_loads_exactly_the_tutorial_data(db):
    stdout, _ = seed_heroes()

    assert stdout == "Loaded the tutorial data: 2 teams, 3 heroes, 4 memberships.\n"
    assert tables() == (TUTORIAL_TEAMS, TUTORIAL_HEROES, TUTORIAL_LINKS)


def test_seeding_again_without_reset_says_so_and_changes_nothing(spider_boy, z_force):
    spider_boy.team = z_force
    spider_boy.save(update_fields=["team"])
    before = tables()

    stdout, stderr = seed_heroes()

    assert stdout == (
        "The tutorial data is already loaded; nothing changed. Use --reset to load it afresh.\n"
    )
    assert stderr == ""
    assert tables() == before


def test_reset_restores_the_tutorial_data(spider_boy, preventers):
    spider_boy.team = preventers
    spider_boy.save(update_fields=["team"])
    HeroTeamLink.objects.filter(hero__name="Deadpond").delete()
    Team.objects.create(name="Avengers", headquarters="Stark Tower")
    Hero.objects.create(name="Tarantula", secret_name="Natalia Roman-on", age=32)

    stdout, _ = seed_heroes("--reset")

    assert stdout == (
        "Deleted every team, hero and membership, then loaded the tutorial data: "
        "2 teams, 3 heroes, 4 memberships.\n"
    )
    assert tables() == (TUTORIAL_TEAMS, TUTORIAL_HEROES, TUTORIAL_LINKS)


def test_seeding_over_clashing_data_fails_and_writes_nothing(db):
    Team.objects.create(pk=1, name="Avengers", headquarters="Stark Tower")

    with pytest.raises(CommandError) as error:
        seed_heroes()

    assert str(error.value) == (
        "The database already holds teams or heroes with the tutorial's ids or names; "
        "use --reset to start again from the tutorial's data."
    )
    assert tables() == ([(1, "Avengers", "Stark Tower")], [], [])


def test_generating_creates_exactly_the_numbers_asked_for(db):
    stdout, _ = generate(seed=1)

    assert SUMMARY.fullmatch(stdout)
    assert counts() == (10, 200, 500)
    pairs = HeroTeamLink.objects.values_list("hero_id", "team_id")
    assert len(set(pairs)) == 500


def test_generated_data_looks_like_heroes_and_teams(db):
    generate(seed=2)

    ages = list(Hero.objects.values_list("age", flat=True))
    assert None in ages
    assert all(age is None or 16 <= age <= 90 for age in ages)
    team_ids = list(Hero.objects.values_list("team_id", flat=True))
    assert 0 < team_ids.count(None) < 100
    assert all(
        re.fullmatch(r"[A-Z][\w' -]+", name) for name in Hero.objects.values_list("name", flat=True)
    )
    assert all(
        re.fullmatch(r"[A-Z][\w'-]+ [A-Z][\w'-]+", secret)
        for secret in Hero.objects.values_list("secret_name", flat=True)
    )
    assert all(Team.objects.values_list("headquarters", flat=True))
    training = HeroTeamLink.objects.filter(is_training=True).count()
    assert 0 < training < 250
    per_hero = Hero.objects.annotate(n=Count("team_links")).values_list("n", flat=True)
    assert {0, 1, 2, 3} <= set(per_hero)


def test_a_few_teams_are_big_and_many_are_small(db):
    generate(heroes=2000, teams=100, links=3000, seed=3)

    members = sorted(Team.objects.with_member_count().values_list("member_count", flat=True))
    heroes = sorted(Team.objects.with_hero_count().values_list("hero_count", flat=True))
    assert members[-1] > 5 * members[len(members) // 2]
    assert heroes[-1] > 5 * heroes[len(heroes) // 2]


def test_the_same_seed_gives_the_same_data(db):
    starts = HeroTeamLink.objects.order_by("hero_id", "team_id").values_list("created_at")
    generate(seed=4)
    first, first_starts = tables(), list(starts)
    seed.reset()

    generate(seed=4)

    assert tables() == first
    assert list(starts) == first_starts
    seed.reset()
    generate(seed=5)
    assert tables() != first


def test_generating_adds_to_the_data_there_without_clashing_names(tutorial):
    generate(seed=6)
    generated = set(Team.objects.values_list("name", flat=True))

    generate(seed=6)

    assert counts() == (22, 403, 1004)
    # The same draws: the names the first set took were passed over.
    assert Team.objects.exclude(name__in=generated).count() == 10
    teams, heroes, links = tables()
    assert teams[:2] == TUTORIAL_TEAMS
    assert heroes[:3] == TUTORIAL_HEROES
    assert [link for link in links if link[0] <= 3] == TUTORIAL_LINKS
    # The second set joins its own heroes to its own teams.
    assert all(team > 12 for hero, team, _ in links if hero > 203)
    # And the ORM's next ids come after it.
    assert Hero.objects.create(name="Tarantula", secret_name="Natalia Roman-on").pk == 404


def test_team_names_get_a_number_once_the_plain_ones_run_out(db):
    seed_heroes(teams=2500)

    names = list(Team.objects.values_list("name", flat=True))
    assert len(set(names)) == 2500
    assert not {"Preventers", "Z-Force"} & set(names)
    assert any(re.fullmatch(r".+ 2", name) for name in names)
    assert all(len(name) <= 100 for name in names)


def test_heroes_alone_have_no_team(db):
    stdout, _ = seed_heroes(heroes=5)

    assert re.fullmatch(r"Created 0 teams, 5 heroes and 0 memberships in \d+\.\d s\.\n", stdout)
    assert list(Hero.objects.values_list("team_id", flat=True)) == [None] * 5


def indexes_and_foreign_keys():
    """The columns of every index and foreign key of `hero` and `heroteamlink`."""
    found = set()
    with connection.cursor() as cursor:
        for table in ("hero", "heroteamlink"):
            for constraint in connection.introspection.get_constraints(cursor, table).values():
                if constraint["index"] or constraint["unique"] or constraint["foreign_key"]:
                    found.add(
                        (
                            table,
                            tuple(constraint["columns"]),
                            constraint["unique"],
                            constraint["foreign_key"],
                        )
                    )
    return found


def test_generating_keeps_the_indexes_and_foreign_keys(db):
    before = indexes_and_foreign_keys()

    generate(seed=7)

    assert indexes_and_foreign_keys() == before
    assert {
        ("hero", ("name",), False, None),
        ("hero", ("age",), False, None),
        ("hero", ("team_id",), False, None),
        ("hero", ("team_id",), False, ("team", "id")),
        ("heroteamlink", ("hero_id", "team_id"), True, None),
        ("heroteamlink", ("team_id", "hero_id"), False, None),
        ("heroteamlink", ("hero_id",), False, ("hero", "id")),
        ("heroteamlink", ("team_id",), False, ("team", "id")),
    } <= before


def test_generating_keeps_the_heroes_counted_per_block_of_ids(tutorial):
    def blocks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT first_id, row_count FROM hero_id_block ORDER BY first_id")
            return cursor.fetchall()

    def counted():
        ids = Hero.objects.values_list("pk", flat=True)
        return sorted(collections.Counter(pk - pk % 4096 for pk in ids).items())

    generate(seed=9)  # more rows than there were: a bulk load (no indexes, no row trigger)
    assert [tuple(block) for block in blocks()] == counted()
    assert Hero.objects.count() == 203

    Hero.objects.create(pk=5000, name="Later", secret_name="Still counted")
    assert [tuple(block) for block in blocks()] == counted()  # the trigger is back


def test_a_failure_halfway_writes_nothing(tutorial, monkeypatch):
    before, indexes = tables(), indexes_and_foreign_keys()
    batches = synthetic._heroes_and_links

    def fail_after_one_batch(*args):
        yield next(batches(*args))
        raise RuntimeError("Disk full")

    monkeypatch.setattr(synthetic, "_heroes_and_links", fail_after_one_batch)

    with pytest.raises(RuntimeError, match="Disk full"):
        generate(seed=11)

    assert tables() == before
    assert indexes_and_foreign_keys() == indexes


def test_reset_then_generate_leaves_only_the_synthetic_data(tutorial):
    generate("--reset", seed=8)

    assert counts() == (10, 200, 500)
    assert not Team.objects.filter(name__in=["Preventers", "Z-Force"]).exists()


def test_the_progress_bar_counts_every_row_on_a_terminal(db):
    _, stderr = seed_heroes(heroes=200, teams=10, links=500, seed=9, stderr=Terminal())

    assert "100%" in stderr
    assert "710/710" in stderr
    # Redrawn in place: carriage returns, one newline when done.
    assert stderr.count("\r") > 1
    assert stderr.count("\n") == 1


def test_the_progress_bar_stays_off_when_stderr_is_not_a_terminal(db):
    _, stderr = generate(seed=10)

    assert stderr == ""


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        (
            {"heroes": -1, "teams": 10, "links": 0},
            "The numbers of heroes, teams and links cannot be negative.",
        ),
        (
            {"heroes": 10, "teams": 0, "links": 5},
            "Links need at least one hero and one team.",
        ),
        (
            {"heroes": 0, "teams": 5, "links": 5},
            "Links need at least one hero and one team.",
        ),
        (
            {"heroes": 3, "teams": 2, "links": 7},
            "3 heroes and 2 teams allow at most 6 links, not 7.",
        ),
        (
            {"heroes": 1, "teams": 1, "links": 2},
            "1 hero and 1 team allow at most 1 link, not 2.",
        ),
    ],
)
def test_impossible_numbers_are_refused_and_nothing_is_written(tutorial, numbers, message):
    before = tables()

    with pytest.raises(CommandError) as error:
        seed_heroes("--reset", **numbers)

    assert str(error.value) == message
    assert tables() == before


def test_a_seed_without_numbers_is_refused(tutorial):
    with pytest.raises(CommandError) as error:
        seed_heroes(seed=1)

    assert str(error.value) == "--seed needs --heroes, --teams or --links."


def test_reset_deletes_history_too_in_one_statement_per_table(
    spider_boy, z_force, django_assert_num_queries
):
    from heroes import services
    from heroes.models import ChangeSet, HeroChange

    services.join_team(hero=spider_boy, team=z_force)
    with django_assert_num_queries(5 + 2):  # a DELETE per table, and the savepoint pair
        seed.reset()
    assert not ChangeSet.objects.exists()
    assert not HeroChange.objects.exists()
    assert not Hero.objects.exists()
