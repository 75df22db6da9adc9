"""Load the tutorial's data, or generate a large realistic data set in batches."""

from django.db import connection, transaction
from django.db.models import Q

from .models import ChangeSet, Hero, HeroChange, HeroTeamLink, Team

TUTORIAL_TEAMS = [
    {"id": 1, "name": "Preventers", "headquarters": "Sharp Tower"},
    {"id": 2, "name": "Z-Force", "headquarters": "Sister Margaret's Bar"},
]
TUTORIAL_HEROES = [
    {"id": 1, "name": "Deadpond", "secret_name": "Dive Wilson", "age": None, "team_id": 2},
    {"id": 2, "name": "Rusty-Man", "secret_name": "Tommy Sharp", "age": 48, "team_id": 1},
    {
        "id": 3,
        "name": "Spider-Boy",
        "secret_name": "Pedro Parqueador",
        "age": None,
        "team_id": None,
    },
]
# (hero id, team id, is_training)
TUTORIAL_LINKS = [(1, 2, False), (1, 1, True), (2, 1, False), (3, 1, True)]


def reset() -> None:
    """Delete every team, hero, membership and recorded change, in a few statements.

    Children first, each table in one DELETE: Django's collector would load every
    hero into memory to cascade, which at a million heroes takes minutes.
    """
    with transaction.atomic():
        for model in (HeroChange, ChangeSet, HeroTeamLink, Hero, Team):
            rows = model.objects.all()
            rows._raw_delete(rows.db)


def tutorial_data_missing() -> bool:
    """True if any of the tutorial's teams or heroes is not in the database (by name)."""
    names = {team["name"] for team in TUTORIAL_TEAMS}
    hero_names = {hero["name"] for hero in TUTORIAL_HEROES}
    return Team.objects.filter(name__in=names).count() < len(names) or Hero.objects.filter(
        name__in=hero_names
    ).values("name").distinct().count() < len(hero_names)


def load_tutorial() -> None:
    """Load the tutorial's teams, heroes and memberships, ids included.

    Raises ValueError, writing nothing, if rows with those ids or names already exist
    with other contents.
    """
    with transaction.atomic():
        clashes = (
            Team.objects.filter(
                Q(pk__in=[t["id"] for t in TUTORIAL_TEAMS])
                | Q(name__in=[t["name"] for t in TUTORIAL_TEAMS])
            ).exists()
            or Hero.objects.filter(pk__in=[h["id"] for h in TUTORIAL_HEROES]).exists()
        )
        if clashes:
            raise ValueError(
                "The database already holds teams or heroes with the tutorial's ids or names; "
                "use --reset to start again from the tutorial's data."
            )
        Team.objects.bulk_create(Team(**team) for team in TUTORIAL_TEAMS)
        Hero.objects.bulk_create(Hero(**hero) for hero in TUTORIAL_HEROES)
        HeroTeamLink.objects.bulk_create(
            HeroTeamLink(hero_id=hero, team_id=team, is_training=training)
            for hero, team, training in TUTORIAL_LINKS
        )
        _reset_sequences()


def _reset_sequences() -> None:
    """After inserting explicit ids, move PostgreSQL's sequences past them."""
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), [Team, Hero, HeroTeamLink])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
