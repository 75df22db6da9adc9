"""assign_team HERO TEAM: make TEAM the hero's team."""

from heroes import services
from heroes.management.base import HeroesCommand, resolve_hero, resolve_team


class Command(HeroesCommand):
    help = "Make TEAM the team of HERO (each an id or an exact name)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("hero", help="The hero's id or exact name.")
        parser.add_argument("team", help="The team's id or exact name.")

    def run(self, *, hero, team, **options):
        result = services.assign_team(hero=resolve_hero(hero), team=resolve_team(team))
        if result.changed:
            self.stdout.write(f"Updated hero: {result.hero!r}")
        else:
            self.stdout.write(result.message)
