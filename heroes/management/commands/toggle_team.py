"""toggle_team HERO TEAM: leave the team if the hero is a member, join it otherwise."""

from heroes import services
from heroes.management.base import MembershipCommand


class Command(MembershipCommand):
    help = "Make HERO leave TEAM if a member, join it otherwise (each an id or an exact name)."

    def change(self, *, hero, team, **options):
        return services.toggle_membership(hero=hero, team=team)
