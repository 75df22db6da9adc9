"""Shared fixtures: the tutorial's data, staff users and SQL helpers."""

import re

import pytest

from heroes import seed
from heroes.models import Hero, Team


@pytest.fixture
def tutorial(db):
    """The tutorial's two teams, three heroes and four memberships, ids included."""
    seed.load_tutorial()


@pytest.fixture
def spider_boy(tutorial):
    return Hero.objects.get(name="Spider-Boy")


@pytest.fixture
def deadpond(tutorial):
    return Hero.objects.get(name="Deadpond")


@pytest.fixture
def rusty_man(tutorial):
    return Hero.objects.get(name="Rusty-Man")


@pytest.fixture
def preventers(tutorial):
    return Team.objects.get(name="Preventers")


@pytest.fixture
def z_force(tutorial):
    return Team.objects.get(name="Z-Force")


WRITE = re.compile(r'^(INSERT INTO|UPDATE|DELETE FROM) "(\w+)"')


HISTORY = {"changeset", "herochange"}


def writes(statements) -> list[str]:
    """'VERB table' for each INSERT, UPDATE or DELETE of a connection (history aside)."""
    found = (WRITE.match(statement.sql) for statement in statements)
    return [
        f"{match[1].split()[0]} {match[2]}" for match in found if match and match[2] not in HISTORY
    ]


def history_writes(statements) -> list[str]:
    """'VERB table' for each write of the history tables."""
    found = (WRITE.match(statement.sql) for statement in statements)
    return [f"{match[1].split()[0]} {match[2]}" for match in found if match and match[2] in HISTORY]


def verbs(statements) -> list[str]:
    """The first keyword of each captured statement, savepoints left out."""
    return [s.verb for s in statements if s.verb not in {"SAVEPOINT", "RELEASE"}]


@pytest.fixture
def many_heroes(db):
    """A factory: `many_heroes(n)` creates n heroes and returns them as a QuerySet."""

    def create(count: int, prefix: str = "Extra"):
        created = Hero.objects.bulk_create(
            Hero(name=f"{prefix}-{index}", secret_name=f"Secret {index}", age=index % 90)
            for index in range(count)
        )
        return Hero.objects.filter(pk__in=[hero.pk for hero in created])

    return create
