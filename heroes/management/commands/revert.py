"""revert CHANGE_ID [--hero HERO]: put back what a recorded change did."""

from django.core.management.base import CommandError

from heroes import services
from heroes.management.base import HeroesCommand, resolve_hero
from heroes.models import ChangeSet


class Command(HeroesCommand):
    help = (
        "Revert the recorded change CHANGE_ID (see `history`), or only its part about --hero. "
        "Refused, changing nothing, if the data has changed since."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("change_id", type=int, help="The number of the change (#N).")
        parser.add_argument("--hero", help="Revert only this hero's part (id or name).")

    def run(self, *, change_id, hero=None, **options):
        change_set = ChangeSet.objects.filter(pk=change_id).first()
        if change_set is None:
            raise CommandError(f"No change #{change_id}; `history` lists them.")
        hero = resolve_hero(hero) if hero is not None else None
        result = services.revert_change_set(change_set=change_set, hero=hero)
        self.stdout.write(result.message)
        self.stdout.write(f"Recorded as change #{result.change_set.pk}.")
