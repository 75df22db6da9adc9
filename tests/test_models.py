"""The data model: tables, reprs, constraints and deletion rules."""

import pytest
from django.db import IntegrityError, connection

from heroes.models import Hero, HeroTeamLink, Team


def test_tables_are_named_as_in_the_tutorial():
    assert {Team._meta.db_table, Hero._meta.db_table, HeroTeamLink._meta.db_table} == {
        "team",
        "hero",
        "heroteamlink",
    }
    assert Hero._meta.get_field("team").column == "team_id"


def test_reprs_match_the_contract(spider_boy, z_force):
    assert repr(spider_boy) == (
        "Hero(id=3, name='Spider-Boy', secret_name='Pedro Parqueador', age=None, team_id=None)"
    )
    assert repr(z_force) == "Team(id=2, name='Z-Force', headquarters=\"Sister Margaret's Bar\")"


def test_tutorial_memberships(tutorial):
    links = HeroTeamLink.objects.values_list("hero__name", "team__name", "is_training")
    assert sorted(links) == [
        ("Deadpond", "Preventers", True),
        ("Deadpond", "Z-Force", False),
        ("Rusty-Man", "Preventers", False),
        ("Spider-Boy", "Preventers", True),
    ]


def test_the_database_refuses_a_second_link_for_the_same_pair(spider_boy, preventers):
    with pytest.raises(IntegrityError):
        HeroTeamLink.objects.create(hero=spider_boy, team=preventers)


def test_the_database_refuses_a_negative_age(db):
    with pytest.raises(IntegrityError):
        Hero.objects.create(name="Nobody", secret_name="None", age=-1)


def test_deleting_a_team_keeps_its_heroes_without_a_team_and_removes_its_links(
    preventers, rusty_man
):
    preventers.delete()
    rusty_man.refresh_from_db()
    assert rusty_man.team_id is None
    assert not HeroTeamLink.objects.filter(team_id=1).exists()
    assert HeroTeamLink.objects.count() == 1


def test_hero_name_and_age_are_indexed(db):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "hero")
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
    assert {("name",), ("age",), ("team_id",)} <= indexed
