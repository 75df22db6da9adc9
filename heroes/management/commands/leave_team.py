"""leave_team HERO TEAM: end the hero's membership of the team."""

from heroes import services
from heroes.management.base import MembershipCommand


class Command(MembershipCommand):
    help = "Remove HERO from the members of TEAM (each an id or an exact name)."

    def change(self, *, hero, team, **options):
        return services.leave_team(hero=hero, team=team)
