"""Connection services: the data after each change and the SQL it came down to."""

import pytest
from django.db import OperationalError

from heroes import services
from heroes.models import Hero, HeroTeamLink, Team
from heroes.services import ServiceError
from tests.conftest import verbs, writes


def team_names(hero):
    return list(hero.teams.values_list("name", flat=True))


def links():
    return sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training"))


# A hero's team ------------------------------------------------------------------------


def test_assign_team_sets_team_id_with_one_update_of_that_column(spider_boy, preventers):
    result = services.assign_team(hero=spider_boy, team=preventers)

    assert Hero.objects.get(pk=3).team_id == 1
    assert result.message == "Spider-Boy is now in Preventers."
    assert (result.changed, result.unchanged) == (1, 0)
    assert repr(result.hero) == (
        "Hero(id=3, name='Spider-Boy', secret_name='Pedro Parqueador', age=None, team_id=1)"
    )
    assert writes(result.statements) == ["UPDATE hero"]
    update = next(s for s in result.statements if s.verb == "UPDATE")
    assert update.sql == 'UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s'
    assert update.params == (1, 3)


def test_assign_team_twice_changes_nothing_the_second_time(spider_boy, preventers):
    services.assign_team(hero=spider_boy, team=preventers)
    result = services.assign_team(hero=spider_boy, team=preventers)

    assert result.message == "Spider-Boy is already in Preventers."
    assert (result.changed, result.unchanged) == (0, 1)
    assert writes(result.statements) == []


def test_assign_team_reads_the_current_state_not_the_callers_stale_copy(deadpond, z_force):
    stale = Hero.objects.get(pk=deadpond.pk)
    Hero.objects.filter(pk=deadpond.pk).update(team=None)

    result = services.assign_team(hero=stale, team=z_force)

    assert result.changed == 1
    assert result.previous_team is None


def test_assign_team_does_not_touch_memberships(spider_boy, z_force):
    services.assign_team(hero=spider_boy, team=z_force)
    assert team_names(spider_boy) == ["Preventers"]


def test_clear_team_sets_team_id_to_null_with_one_update(rusty_man, preventers):
    result = services.clear_team(hero=rusty_man)

    assert Hero.objects.get(pk=2).team_id is None
    assert result.message == "Rusty-Man is no longer in Preventers."
    assert result.previous_team == preventers
    update = next(s for s in result.statements if s.verb == "UPDATE")
    assert update.sql == 'UPDATE "hero" SET "team_id" = NULL WHERE "hero"."id" = %s'
    assert update.params == (2,)
    assert team_names(rusty_man) == ["Preventers"]


def test_clear_team_of_a_hero_without_team_changes_nothing(spider_boy):
    result = services.clear_team(hero=spider_boy)

    assert result.message == "Spider-Boy has no team."
    assert result.changed == 0
    assert writes(result.statements) == []


def test_changing_the_team_of_a_deleted_hero_is_refused(spider_boy, preventers):
    Hero.objects.filter(pk=spider_boy.pk).delete()
    with pytest.raises(ServiceError, match=r"^Hero Spider-Boy no longer exists.$"):
        services.assign_team(hero=spider_boy, team=preventers)


# Memberships ----------------------------------------------------------------------------


def test_join_team_inserts_one_link(spider_boy, z_force):
    result = services.join_team(hero=spider_boy, team=z_force)

    assert team_names(spider_boy) == ["Preventers", "Z-Force"]
    assert result.message == "Spider-Boy joined Z-Force."
    assert (result.changed, result.joined) == (1, 1)
    assert writes(result.statements) == ["INSERT heroteamlink"]
    insert = next(s for s in result.statements if s.sql.startswith('INSERT INTO "heroteamlink"'))
    assert insert.params == (3, 2, False)


def test_join_team_as_a_trainee(spider_boy, z_force):
    result = services.join_team(hero=spider_boy, team=z_force, training=True)

    assert result.message == "Spider-Boy joined Z-Force as a trainee."
    assert HeroTeamLink.objects.get(hero=spider_boy, team=z_force).is_training


def test_joining_twice_leaves_one_link(spider_boy, z_force):
    services.join_team(hero=spider_boy, team=z_force)
    result = services.join_team(hero=spider_boy, team=z_force)

    assert result.message == "Spider-Boy is already a member of Z-Force."
    assert (result.changed, result.unchanged) == (0, 1)
    assert HeroTeamLink.objects.filter(hero=spider_boy, team=z_force).count() == 1


def test_leave_team_deletes_one_link(deadpond, z_force):
    result = services.leave_team(hero=deadpond, team=z_force)

    assert team_names(deadpond) == ["Preventers"]
    assert result.message == "Deadpond left Z-Force."
    assert writes(result.statements) == ["DELETE heroteamlink"]
    delete = next(s for s in result.statements if s.verb == "DELETE")
    assert delete.params == (1, 2)


def test_leaving_a_team_one_is_not_in_changes_no_row(spider_boy, z_force):
    before = links()
    result = services.leave_team(hero=spider_boy, team=z_force)

    assert result.message == "Spider-Boy is not a member of Z-Force."
    assert (result.changed, result.unchanged) == (0, 1)
    assert links() == before


def test_toggle_joins_then_leaves(spider_boy, z_force):
    first = services.toggle_membership(hero=spider_boy, team=z_force)
    assert first.message == "Spider-Boy joined Z-Force."
    assert (first.joined, first.left) == (1, 0)
    assert writes(first.statements) == ["INSERT heroteamlink"]

    second = services.toggle_membership(hero=spider_boy, team=z_force)
    assert second.message == "Spider-Boy left Z-Force."
    assert (second.joined, second.left) == (0, 1)
    assert writes(second.statements) == ["DELETE heroteamlink"]
    assert team_names(spider_boy) == ["Preventers"]


def test_set_training_updates_is_training_alone(deadpond, preventers):
    result = services.set_training(hero=deadpond, team=preventers, training=False)

    assert result.message == "Deadpond is now a full member of Preventers."
    assert not HeroTeamLink.objects.get(hero=deadpond, team=preventers).is_training
    update = next(s for s in result.statements if s.verb == "UPDATE")
    assert update.sql.startswith('UPDATE "heroteamlink" SET "is_training" = %s WHERE')
    assert writes(result.statements) == ["UPDATE heroteamlink"]


def test_set_training_to_the_current_value_changes_nothing(spider_boy, preventers):
    result = services.set_training(hero=spider_boy, team=preventers, training=True)
    assert result.message == "Spider-Boy is already training in Preventers."
    assert result.changed == 0


def test_set_training_of_a_non_member_is_refused(spider_boy, z_force):
    before = links()
    with pytest.raises(ServiceError, match=r"^Spider-Boy is not a member of Z-Force.$"):
        services.set_training(hero=spider_boy, team=z_force, training=True)
    assert links() == before


def test_membership_change_in_a_deleted_team_is_refused(spider_boy, z_force):
    Team.objects.filter(pk=z_force.pk).delete()
    with pytest.raises(ServiceError, match=r"^Team Z-Force no longer exists.$"):
        services.toggle_membership(hero=spider_boy, team=z_force)


# Bulk -----------------------------------------------------------------------------------


def test_bulk_assign_reports_changed_and_unchanged(tutorial, preventers):
    result = services.bulk_assign_team(heroes=Hero.objects.all(), team=preventers)

    assert result.message == "2 heroes assigned to Preventers, 1 already was."
    assert set(Hero.objects.values_list("team_id", flat=True)) == {1}
    assert writes(result.statements) == ["UPDATE hero"]


def test_bulk_clear_reports_changed_and_unchanged(tutorial):
    result = services.bulk_clear_team(heroes=Hero.objects.all())

    assert result.message == "2 heroes no longer in a team, 1 had none."
    assert set(Hero.objects.values_list("team_id", flat=True)) == {None}


def test_bulk_join_inserts_only_the_missing_links_in_one_statement(tutorial, z_force):
    result = services.bulk_join_team(heroes=Hero.objects.all(), team=z_force, training=True)

    assert result.message == "2 heroes joined Z-Force, 1 already was a member."
    assert writes(result.statements) == ["INSERT heroteamlink"]
    assert links() == [
        (1, 1, True),
        (1, 2, False),
        (2, 1, False),
        (2, 2, True),
        (3, 1, True),
        (3, 2, True),
    ]


def test_bulk_leave_deletes_in_one_statement(tutorial, preventers):
    result = services.bulk_leave_team(heroes=Hero.objects.all(), team=preventers)

    assert result.message == "3 heroes left Preventers."
    assert writes(result.statements) == ["DELETE heroteamlink"]
    assert links() == [(1, 2, False)]


def test_bulk_toggle_flips_every_selected_membership(tutorial, z_force):
    result = services.bulk_toggle_membership(heroes=Hero.objects.all(), team=z_force)

    assert result.message == "2 heroes joined Z-Force, 1 hero left."
    assert (result.joined, result.left) == (2, 1)
    assert writes(result.statements) == ["INSERT heroteamlink", "DELETE heroteamlink"]
    assert sorted(HeroTeamLink.objects.filter(team=z_force).values_list("hero_id", flat=True)) == [
        2,
        3,
    ]


def test_bulk_set_training(tutorial, preventers):
    result = services.bulk_set_training(heroes=Hero.objects.all(), team=preventers, training=False)
    assert result.message == "2 heroes now full members of Preventers."
    assert not HeroTeamLink.objects.filter(team=preventers, is_training=True).exists()


BULK_OPERATIONS = {
    "assign": lambda heroes, team: services.bulk_assign_team(heroes=heroes, team=team),
    "clear": lambda heroes, team: services.bulk_clear_team(heroes=heroes),
    "join": lambda heroes, team: services.bulk_join_team(heroes=heroes, team=team),
    "leave": lambda heroes, team: services.bulk_leave_team(heroes=heroes, team=team),
    "toggle": lambda heroes, team: services.bulk_toggle_membership(heroes=heroes, team=team),
    "training": lambda heroes, team: services.bulk_set_training(
        heroes=heroes, team=team, training=True
    ),
}
# Statements each bulk operation runs, savepoints aside, whatever the number of heroes:
# the change itself, and its record (INSERT change set, INSERT ... SELECT entries,
# UPDATE change set).
BULK_STATEMENTS = {
    "assign": ["SELECT", "INSERT", "INSERT", "UPDATE", "UPDATE"],
    "clear": ["SELECT", "INSERT", "INSERT", "UPDATE", "UPDATE"],
    "join": ["SELECT", "SELECT", "INSERT", "INSERT", "INSERT", "UPDATE"],
    "leave": ["SELECT", "SELECT", "INSERT", "INSERT", "DELETE", "UPDATE"],
    "toggle": ["SELECT", "INSERT", "INSERT", "INSERT", "DELETE", "UPDATE"],
    "training": ["SELECT", "INSERT", "INSERT", "UPDATE", "UPDATE"],
}


@pytest.mark.parametrize("operation", BULK_OPERATIONS)
def test_bulk_operations_cost_the_same_queries_for_10_and_1000_heroes(
    operation, tutorial, preventers, z_force, many_heroes, django_assert_num_queries
):
    small = many_heroes(10, "Small")
    large = many_heroes(1000, "Large")
    for heroes in (small, large):  # half of each in Preventers and members of Z-Force
        half = Hero.objects.filter(pk__in=heroes.values("pk")).order_by("pk")[: heroes.count() // 2]
        services.bulk_assign_team(heroes=half, team=preventers)
        services.bulk_join_team(heroes=half, team=z_force)

    expected = BULK_STATEMENTS[operation]
    for heroes in (small, large):
        with django_assert_num_queries(len(expected) + 2):  # and the savepoint pair
            result = BULK_OPERATIONS[operation](heroes, z_force)
        assert verbs(result.statements) == expected
        assert result.change_set.entries.count() == result.changed > 0


# What each bulk operation reads the selection for: counting it (for the message) and
# recording its entries; the change itself is then made from the entries.
SELECTION_READS = {
    "assign": ["SELECT", "INSERT"],
    "clear": ["SELECT", "INSERT"],
    "join": ["SELECT", "INSERT"],
    "leave": ["SELECT", "INSERT"],
    "toggle": ["INSERT"],
    "training": ["INSERT"],
}


@pytest.mark.parametrize("operation", BULK_OPERATIONS)
def test_bulk_operations_read_the_selection_once_to_record_it(
    operation, tutorial, preventers, z_force, many_heroes
):
    heroes = many_heroes(10)  # in Preventers, and members of Z-Force unless about to join
    services.bulk_assign_team(heroes=heroes, team=preventers)
    if operation != "join":
        services.bulk_join_team(heroes=heroes, team=z_force)
    selection = Hero.objects.filter(name__startswith="Extra-")

    result = BULK_OPERATIONS[operation](selection, z_force)

    assert result.changed == 10
    reads = [s.verb for s in result.statements if "LIKE" in s.sql.upper()]
    assert reads == SELECTION_READS[operation]


def test_bulk_toggle_of_1000_heroes_flips_each_one(tutorial, z_force, many_heroes):
    heroes = many_heroes(1000)
    half = Hero.objects.filter(pk__in=heroes.values("pk")).order_by("pk")[:500]
    services.bulk_join_team(heroes=Hero.objects.filter(pk__in=half.values("pk")), team=z_force)

    result = services.bulk_toggle_membership(heroes=heroes, team=z_force)

    assert (result.joined, result.left) == (500, 500)
    members = set(HeroTeamLink.objects.filter(team=z_force).values_list("hero_id", flat=True))
    assert members & set(heroes.values_list("pk", flat=True)) == set(
        heroes.exclude(pk__in=half.values("pk")).values_list("pk", flat=True)
    )


# Retries ---------------------------------------------------------------------------------


class Deadlock(Exception):
    sqlstate = "40P01"


def test_a_change_aborted_as_a_deadlock_is_run_again(monkeypatch, transactional_db):
    calls = []

    @services.retry_on_conflict
    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise OperationalError("deadlock detected") from Deadlock()
        return "done"

    assert flaky(hero=1) == "done"
    assert len(calls) == 3


def test_other_operational_errors_are_not_retried(transactional_db):
    calls = []

    @services.retry_on_conflict
    def broken(**kwargs):
        calls.append(kwargs)
        raise OperationalError("disk I/O error")

    with pytest.raises(OperationalError):
        broken()
    assert len(calls) == 1
