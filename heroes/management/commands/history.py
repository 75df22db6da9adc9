"""history [HERO] [--team TEAM] [--limit N]: the recorded connection changes, newest first."""

from django.core.management.base import CommandError
from django.db.models import Prefetch
from django.utils import timezone

from heroes.management.base import HeroesCommand, resolve_hero, resolve_team
from heroes.models import ChangeSet, HeroChange

ENTRIES_SHOWN = 5


class Command(HeroesCommand):
    help = "List recorded connection changes, newest first, with each hero's before and after."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("hero", nargs="?", help="Only changes of this hero (id or name).")
        parser.add_argument("--team", help="Only changes about this team (id or name).")
        parser.add_argument(
            "--limit", type=int, default=20, help="How many changes to show (default 20)."
        )

    def run(self, *, hero=None, team=None, limit=20, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        change_sets = ChangeSet.objects.all()
        entries = HeroChange.objects.select_related("team", "team_before", "team_after")
        if hero is not None:
            hero = resolve_hero(hero)
            change_sets = change_sets.for_hero(hero)
            entries = entries.filter(hero=hero)
        if team is not None:
            change_sets = change_sets.for_team(resolve_team(team))
        change_sets = change_sets.prefetch_related(Prefetch("entries", queryset=entries))
        shown = 0
        for change_set in change_sets[:limit]:
            when = timezone.localtime(change_set.created_at).strftime("%Y-%m-%d %H:%M:%S")
            self.stdout.write(
                f"#{change_set.pk}  {when}  {change_set.actor} ({change_set.source})  "
                f"{change_set.message}"
            )
            listed = list(change_set.entries.all())
            for entry in listed[:ENTRIES_SHOWN]:
                self.stdout.write(f"    {entry}")
            if change_set.heroes_changed > ENTRIES_SHOWN and hero is None:
                self.stdout.write(f"    … and {change_set.heroes_changed - ENTRIES_SHOWN} more")
            shown += 1
        if not shown:
            self.stdout.write("No recorded changes.")
