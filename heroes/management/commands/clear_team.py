"""clear_team HERO: take the hero out of their team (team_id set to NULL)."""

from heroes import services
from heroes.management.base import HeroesCommand, resolve_hero


class Command(HeroesCommand):
    help = "Clear the team of HERO (an id or an exact name): its team_id becomes NULL."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("hero", help="The hero's id or exact name.")

    def run(self, *, hero, **options):
        result = services.clear_team(hero=resolve_hero(hero))
        if result.changed:
            self.stdout.write(f"No longer {result.previous_team.name}: {result.hero!r}")
        else:
            self.stdout.write(result.message)
