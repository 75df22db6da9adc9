"""list_teams: the teams as a text table, with how many heroes and members each has."""

from heroes.management.base import HeroesCommand, format_row, rule
from heroes.models import Team

COLUMNS = ("id", "name", "headquarters", "heroes", "members")


class Command(HeroesCommand):
    help = "List the teams with their number of heroes (team_id) and of members."

    def run(self, **options):
        teams = Team.objects.with_hero_count().with_member_count().order_by("pk")
        rows = [
            (team.pk, team.name, team.headquarters, team.hero_count, team.member_count)
            for team in teams
        ]
        widths = [
            max([len(column)] + [len(str(row[index])) for row in rows])
            for index, column in enumerate(COLUMNS[:-1])
        ]
        self.stdout.write(format_row(COLUMNS, widths))
        self.stdout.write(rule(widths, len(COLUMNS[-1])))
        for row in rows:
            self.stdout.write(format_row(row, widths))
        self.stdout.write(f"({len(rows)} {'team' if len(rows) == 1 else 'teams'})")
