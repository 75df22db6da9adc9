"""join_team HERO TEAM [--training]: make the hero a member of the team."""

from heroes import services
from heroes.management.base import MembershipCommand


class Command(MembershipCommand):
    help = "Make HERO a member of TEAM (each an id or an exact name)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--training", action="store_true", help="Join as a trainee (is_training)."
        )

    def change(self, *, hero, team, training=False, **options):
        return services.join_team(hero=hero, team=team, training=training)
