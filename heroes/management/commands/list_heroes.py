"""list_heroes [--team TEAM]: the heroes as a text table, with their team and memberships."""

from django.db.models import CharField, Max
from django.db.models.functions import Cast, Length

from heroes.management.base import HeroesCommand, format_row, resolve_team, rule
from heroes.models import Hero

COLUMNS = ("id", "name", "secret_name", "age", "team", "memberships")


def memberships(hero: Hero) -> str:
    """A hero's teams by name, trainees marked."""
    return ", ".join(
        f"{link.team.name}{' (training)' if link.is_training else ''}"
        for link in hero.team_links.all()
    )


class Command(HeroesCommand):
    help = "List the heroes with their team and memberships, streaming any number of them."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--team", help="Only heroes whose team is TEAM or who are members of it (id or name)."
        )

    def run(self, *, team=None, **options):
        heroes = Hero.objects.all()
        if team is not None:
            heroes = heroes.related_to(resolve_team(team))
        # Column widths come from the database, so the rows can stream.
        sizes = heroes.aggregate(
            id=Max(Length(Cast("id", CharField()))),
            name=Max(Length("name")),
            secret_name=Max(Length("secret_name")),
            team=Max(Length("team__name")),
        )
        widths = [max(len(column), sizes.get(column) or 4) for column in COLUMNS[:-1]]
        self.stdout.write(format_row(COLUMNS, widths))
        self.stdout.write(rule(widths, len(COLUMNS[-1])))
        count = 0
        for hero in heroes.with_teams().iterator(chunk_size=2000):
            row = (
                hero.pk,
                hero.name,
                hero.secret_name,
                "null" if hero.age is None else hero.age,
                hero.team.name if hero.team else "null",
                memberships(hero),
            )
            self.stdout.write(format_row(row, widths))
            count += 1
        self.stdout.write(f"({count} {'hero' if count == 1 else 'heroes'})")
