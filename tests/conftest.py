"""Shared fixtures: the tutorial's data, staff users and SQL helpers."""

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
