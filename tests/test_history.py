"""History and undo: every change recorded with who, where, before/after and SQL; reverts."""

import io
import threading

import pytest
from django.db import connection

from heroes import history, services
from heroes.models import ChangeSet, Hero, HeroChange, HeroTeamLink, Team
from heroes.services import ServiceError
from tests.conftest import history_writes


def state():
    return (
        list(Hero.objects.order_by("pk").values_list("pk", "team_id")),
        sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training")),
    )


def entries(change_set):
    return [
        (
            e.hero_name,
            e.kind,
            e.team_before_id,
            e.team_after_id,
            e.team_id,
            e.member_before,
            e.member_after,
            e.training_before,
            e.training_after,
        )
        for e in change_set.entries.order_by("hero_id")
    ]


def test_a_change_is_recorded_with_its_sql_before_and_after(spider_boy, preventers):
    result = services.assign_team(hero=spider_boy, team=preventers)

    change_set = result.change_set
    assert ChangeSet.objects.get() == change_set
    assert change_set.operation == "assign"
    assert change_set.source == "other"
    assert change_set.message == "Spider-Boy is now in Preventers."
    assert change_set.heroes_changed == 1
    assert entries(change_set) == [("Spider-Boy", "team", None, 1, None, None, None, None, None)]
    assert 'UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s' in change_set.sql
    assert '"herochange"' not in change_set.sql
    assert history_writes(result.statements) == [
        "INSERT changeset",
        "INSERT herochange",
        "UPDATE changeset",
    ]


def test_a_change_that_changes_nothing_is_not_recorded(spider_boy, z_force):
    services.clear_team(hero=spider_boy)
    services.leave_team(hero=spider_boy, team=z_force)
    services.bulk_leave_team(heroes=Hero.objects.filter(pk=spider_boy.pk), team=z_force)
    assert not ChangeSet.objects.exists()


def test_changes_are_attributed_to_the_user_and_source_in_force(
    spider_boy, z_force, django_user_model
):
    alice = django_user_model.objects.create_user("alice", is_staff=True)
    with history.attributed(user=alice, source=ChangeSet.Source.PAGE):
        result = services.join_team(hero=spider_boy, team=z_force, training=True)

    change_set = result.change_set
    assert (change_set.user, change_set.actor, change_set.source) == (alice, "alice", "page")
    assert entries(change_set) == [
        ("Spider-Boy", "membership", None, None, 2, False, True, None, True)
    ]


def test_command_changes_are_attributed_to_the_os_user(spider_boy, preventers):
    from django.core.management import call_command

    call_command("assign_team", "Spider-Boy", "Preventers", stdout=io.StringIO())
    change_set = ChangeSet.objects.get()
    assert change_set.source == "command"
    assert change_set.actor == history.command_line_actor()
    assert "@" in change_set.actor


def test_a_bulk_change_is_one_change_set_with_an_entry_per_changed_hero(tutorial, preventers):
    result = services.bulk_assign_team(heroes=Hero.objects.all(), team=preventers)

    assert ChangeSet.objects.count() == 1
    assert entries(result.change_set) == [
        ("Deadpond", "team", 2, 1, None, None, None, None, None),
        ("Spider-Boy", "team", None, 1, None, None, None, None, None),
    ]
    assert result.change_set.heroes_changed == 2


def test_a_bulk_toggle_records_joins_and_leaves(tutorial, preventers):
    result = services.bulk_toggle_membership(heroes=Hero.objects.all(), team=preventers)
    assert result.message == "0 heroes joined Preventers, 3 heroes left."
    assert entries(result.change_set) == [
        ("Deadpond", "membership", None, None, 1, True, False, True, True),
        ("Rusty-Man", "membership", None, None, 1, True, False, False, False),
        ("Spider-Boy", "membership", None, None, 1, True, False, True, True),
    ]


def test_a_bulk_toggle_records_each_hero_once_joining_or_leaving(tutorial, z_force):
    result = services.bulk_toggle_membership(heroes=Hero.objects.all(), team=z_force, training=True)

    assert entries(result.change_set) == [
        ("Deadpond", "membership", None, None, 2, True, False, False, False),
        ("Rusty-Man", "membership", None, None, 2, False, True, None, True),
        ("Spider-Boy", "membership", None, None, 2, False, True, None, True),
    ]
    assert result.change_set.heroes_changed == 3


def test_a_failing_change_leaves_no_record(spider_boy, z_force):
    with pytest.raises(ServiceError):
        services.set_training(hero=spider_boy, team=z_force, training=True)
    assert not ChangeSet.objects.exists()


def test_history_of_a_hero_and_of_a_team(tutorial, spider_boy, deadpond, preventers, z_force):
    services.assign_team(hero=spider_boy, team=z_force)
    services.join_team(hero=spider_boy, team=z_force)
    services.leave_team(hero=deadpond, team=preventers)

    assert [c.message for c in ChangeSet.objects.for_hero(spider_boy)] == [
        "Spider-Boy joined Z-Force.",
        "Spider-Boy is now in Z-Force.",
    ]
    assert [c.message for c in ChangeSet.objects.for_team(preventers)] == [
        "Deadpond left Preventers."
    ]
    assert len(ChangeSet.objects.for_team(z_force)) == 2


# Undo -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda t: services.assign_team(hero=t["spider_boy"], team=t["preventers"]),
        lambda t: services.clear_team(hero=t["deadpond"]),
        lambda t: services.join_team(hero=t["spider_boy"], team=t["z_force"], training=True),
        lambda t: services.leave_team(hero=t["deadpond"], team=t["preventers"]),
        lambda t: services.toggle_membership(hero=t["rusty_man"], team=t["z_force"]),
        lambda t: services.set_training(hero=t["deadpond"], team=t["preventers"], training=False),
        lambda t: services.bulk_assign_team(heroes=Hero.objects.all(), team=t["z_force"]),
        lambda t: services.bulk_clear_team(heroes=Hero.objects.all()),
        lambda t: services.bulk_toggle_membership(heroes=Hero.objects.all(), team=t["z_force"]),
        lambda t: services.bulk_set_training(
            heroes=Hero.objects.all(), team=t["preventers"], training=False
        ),
    ],
)
def test_reverting_a_change_puts_everything_back(
    change, spider_boy, deadpond, rusty_man, preventers, z_force
):
    names = {
        "spider_boy": spider_boy,
        "deadpond": deadpond,
        "rusty_man": rusty_man,
        "preventers": preventers,
        "z_force": z_force,
    }
    before = state()
    original = change(names).change_set
    assert state() != before

    result = services.revert_change_set(change_set=original)

    assert state() == before
    assert result.message == f"Reverted change #{original.pk} ({original.message[:-1]})."
    assert result.change_set.reverts == original
    assert result.change_set.operation == "revert"
    assert result.change_set.entries.count() == original.entries.count()


def test_a_revert_can_itself_be_reverted(spider_boy, preventers):
    original = services.assign_team(hero=spider_boy, team=preventers).change_set
    revert = services.revert_change_set(change_set=original).change_set
    services.revert_change_set(change_set=revert)
    assert Hero.objects.get(pk=spider_boy.pk).team_id == preventers.pk


def test_reverting_one_hero_of_a_bulk_change(tutorial, spider_boy, z_force):
    original = services.bulk_assign_team(heroes=Hero.objects.all(), team=z_force).change_set
    result = services.revert_change_set(change_set=original, hero=spider_boy)

    assert result.message == (
        f"Reverted change #{original.pk} for Spider-Boy "
        "(2 heroes assigned to Z-Force, 1 already was)."
    )
    assert list(Hero.objects.order_by("pk").values_list("team_id", flat=True)) == [2, 2, None]


def test_reverting_one_hero_of_a_bulk_toggle_leaves_the_others_as_they_are(
    tutorial, deadpond, spider_boy, z_force
):
    original = services.bulk_toggle_membership(heroes=Hero.objects.all(), team=z_force).change_set

    services.revert_change_set(change_set=original, hero=deadpond)  # joins again
    services.revert_change_set(change_set=original, hero=spider_boy)  # leaves again

    assert sorted(HeroTeamLink.objects.filter(team=z_force).values_list("hero_id", flat=True)) == [
        deadpond.pk,
        2,
    ]
    assert original.reverted_by.count() == 2
    with pytest.raises(ServiceError, match="Deadpond: is a member of Z-Force again"):
        services.revert_change_set(change_set=original)


def test_a_revert_is_refused_when_the_data_has_changed_since(spider_boy, preventers, z_force):
    original = services.assign_team(hero=spider_boy, team=preventers).change_set
    services.join_team(hero=spider_boy, team=z_force)
    services.assign_team(hero=spider_boy, team=z_force)
    before = state()
    change_sets = ChangeSet.objects.count()

    with pytest.raises(ServiceError) as refused:
        services.revert_change_set(change_set=original)

    assert str(refused.value) == (
        f"Change #{original.pk} cannot be reverted: the data has changed since. "
        "Spider-Boy: team is now Z-Force, not Preventers."
    )
    assert state() == before
    assert ChangeSet.objects.count() == change_sets


def test_reverting_twice_is_refused(spider_boy, z_force):
    original = services.join_team(hero=spider_boy, team=z_force).change_set
    services.revert_change_set(change_set=original)
    with pytest.raises(ServiceError, match=r"Spider-Boy: is no longer a full member of Z-Force"):
        services.revert_change_set(change_set=original)


@pytest.mark.django_db(transaction=True)
def test_a_revert_that_fails_half_way_changes_nothing(tutorial, deadpond, preventers, z_force):
    # One change set that moved two heroes; then one of them is moved again directly,
    # bypassing the check (as a concurrent writer would), so the revert's guarded
    # UPDATE falls short and everything is rolled back.
    original = services.bulk_assign_team(heroes=Hero.objects.all(), team=z_force).change_set
    before = state()

    real_out_of_place = history.out_of_place
    calls = []

    def out_of_place_then_interfere(entries, limit=5):
        calls.append(1)
        found = real_out_of_place(entries, limit)
        Hero.objects.filter(name="Spider-Boy").update(team=preventers)
        return found

    history.out_of_place = out_of_place_then_interfere
    try:
        with pytest.raises(ServiceError, match="kept interfering"):
            services.revert_change_set(change_set=original)
    finally:
        history.out_of_place = real_out_of_place

    assert len(calls) == services.RETRIES
    assert state() == before


@pytest.mark.parametrize("size", [10, 1000])
def test_revert_costs_the_same_queries_at_any_size(
    size, tutorial, z_force, many_heroes, django_assert_num_queries
):
    heroes = many_heroes(size)
    original = services.bulk_toggle_membership(heroes=heroes, team=z_force).change_set
    # lock set, count, lock team, check, INSERT set, INSERT entries, DELETE, UPDATE set
    with django_assert_num_queries(8 + 2):
        services.revert_change_set(change_set=original)
    assert not HeroTeamLink.objects.filter(team=z_force, hero__in=heroes).exists()


@pytest.mark.django_db(transaction=True)
def test_a_revert_racing_a_change_never_applies_blindly(spider_boy, preventers, z_force):
    original = services.assign_team(hero=spider_boy, team=preventers).change_set
    errors, outcomes = [], []
    barrier = threading.Barrier(2)

    def revert():
        try:
            barrier.wait()
            services.revert_change_set(change_set=original)
            outcomes.append("reverted")
        except ServiceError:
            outcomes.append("refused")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def change():
        try:
            barrier.wait()
            services.assign_team(hero=spider_boy, team=z_force)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=revert), threading.Thread(target=change)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    team_id = Hero.objects.get(pk=spider_boy.pk).team_id
    if outcomes == ["reverted"]:
        # The revert went first; the change then moved Spider-Boy to Z-Force.
        assert team_id == z_force.pk
        assert HeroChange.objects.filter(change_set__operation="revert").count() == 1
    else:
        assert outcomes == ["refused"]
        assert team_id == z_force.pk


def test_deleting_a_team_keeps_the_history_readable(spider_boy, z_force):
    original = services.join_team(hero=spider_boy, team=z_force).change_set
    Team.objects.filter(pk=z_force.pk).delete()
    entry = original.entries.get()
    assert str(entry) == "Spider-Boy: a deleted team: not a member → member"


def test_a_membership_change_of_a_deleted_team_cannot_be_reverted(deadpond, preventers):
    original = services.leave_team(hero=deadpond, team=preventers).change_set
    Team.objects.filter(pk=preventers.pk).delete()

    with pytest.raises(ServiceError, match="Deadpond: the team has been deleted"):
        services.revert_change_set(change_set=original)


# Entries reference heroes, teams and their change set without database constraints
# (see HeroChange): Django's on_delete keeps them consistent.


def test_deleting_a_hero_keeps_its_entries_under_its_name(spider_boy, z_force):
    original = services.bulk_join_team(heroes=Hero.objects.all(), team=z_force).change_set
    Hero.objects.filter(pk=spider_boy.pk).delete()

    assert sorted(original.entries.values_list("hero_name", "hero_id")) == [
        ("Rusty-Man", 2),
        ("Spider-Boy", None),
    ]
    with pytest.raises(ServiceError, match="Spider-Boy: the hero has been deleted"):
        services.revert_change_set(change_set=original)


def test_deleting_a_change_set_deletes_its_entries(tutorial):
    kept = services.bulk_clear_team(heroes=Hero.objects.filter(name="Deadpond")).change_set
    deleted = services.bulk_clear_team(heroes=Hero.objects.all()).change_set

    deleted.delete()

    assert list(HeroChange.objects.values_list("change_set_id", flat=True)) == [kept.pk]


# Commands ---------------------------------------------------------------------------------


def run(*argv):
    from django.core.management import call_command

    out = io.StringIO()
    call_command(*argv, stdout=out)
    return out.getvalue()


def test_history_command_lists_changes_newest_first(tutorial):
    run("tutorial")
    lines = run("history", "Spider-Boy", "--limit", "2").splitlines()
    assert [line.split("  ", 3)[-1] for line in lines[::2]] == [
        "Spider-Boy left Z-Force.",
        "Spider-Boy joined Z-Force.",
    ]
    assert lines[1] == "    Spider-Boy: Z-Force: member → not a member"
    assert f"{history.command_line_actor()} (command)" in lines[0]


def test_history_command_by_team_and_when_empty(tutorial):
    assert run("history") == "No recorded changes.\n"
    run("join_team", "Spider-Boy", "Z-Force")
    run("assign_team", "Rusty-Man", "Z-Force")
    assert len(run("history", "--team", "Z-Force").splitlines()) == 4
    assert run("history", "--team", "Preventers").count("#") == 1


def test_revert_command_reverts_and_says_how_it_was_recorded(spider_boy, preventers):
    original = services.assign_team(hero=spider_boy, team=preventers).change_set
    out = run("revert", str(original.pk))
    assert out.splitlines() == [
        f"Reverted change #{original.pk} (Spider-Boy is now in Preventers).",
        f"Recorded as change #{original.pk + 1}.",
    ]
    assert Hero.objects.get(pk=spider_boy.pk).team_id is None


def test_revert_command_errors_change_nothing(spider_boy, preventers, z_force):
    from django.core.management.base import CommandError

    original = services.assign_team(hero=spider_boy, team=preventers).change_set
    services.assign_team(hero=spider_boy, team=z_force)
    before = state()
    with pytest.raises(CommandError, match="cannot be reverted: the data has changed since"):
        run("revert", str(original.pk))
    with pytest.raises(CommandError, match=r"^No change #999; `history` lists them.$"):
        run("revert", "999")
    assert state() == before


def test_one_hero_joins_and_leaves_are_recorded_by_statements_built_once(spider_boy, z_force):
    joined = services.join_team(hero=spider_boy, team=z_force, training=True)
    left = services.leave_team(hero=spider_boy, team=z_force)
    joined_again = services.join_team(hero=spider_boy, team=z_force)

    assert entries(joined.change_set) == [
        ("Spider-Boy", "membership", None, None, 2, False, True, None, True)
    ]
    assert entries(left.change_set) == [
        ("Spider-Boy", "membership", None, None, 2, True, False, True, True)
    ]
    assert entries(joined_again.change_set) == [
        ("Spider-Boy", "membership", None, None, 2, False, True, None, False)
    ]
    # Every entry belongs to its change set, hero and team: no sentinel id was written.
    assert set(HeroChange.objects.values_list("change_set_id", "hero_id", "team_id")) == {
        (change.change_set.pk, spider_boy.pk, z_force.pk) for change in (joined, left, joined_again)
    }
