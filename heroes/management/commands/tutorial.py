"""tutorial: replay the three SQLModel chapters on the current database and print their lines."""

from heroes import seed, services
from heroes.management.base import HeroesCommand
from heroes.models import Hero, Team


class Command(HeroesCommand):
    help = (
        "Replay the tutorial chapters 'Update Data Connections', 'Remove Data Connections' "
        "and 'Update and Remove Many-to-Many Relationships' (with --sql, show their SQL)."
    )

    def run(self, **options):
        if seed.tutorial_data_missing():
            try:
                seed.load_tutorial()
            except ValueError as exc:
                raise services.ServiceError(str(exc)) from exc
        # The first of each name: synthetic data may reuse a tutorial hero's name.
        spider_boy = Hero.objects.filter(name="Spider-Boy").order_by("pk").first()
        preventers = Team.objects.get(name="Preventers")
        z_force = Team.objects.get(name="Z-Force")
        write = self.stdout.write

        # Update Data Connections: Spider-Boy joins the Preventers.
        result = services.assign_team(hero=spider_boy, team=preventers)
        write(f"Updated hero: {result.hero!r}")

        # Remove Data Connections: and leaves them.
        result = services.clear_team(hero=spider_boy)
        write(f"No longer Preventer: {result.hero!r}")

        # Update and Remove Many-to-Many Relationships: in and out of Z-Force.
        services.join_team(hero=spider_boy, team=z_force)
        write(f"Updated Spider-Boy's Teams: {list(spider_boy.teams.all())!r}")
        write(f"Z-Force heroes: {list(z_force.members.all())!r}")
        services.leave_team(hero=spider_boy, team=z_force)
        write(f"Reverted Z-Force's heroes: {list(z_force.members.all())!r}")
        write(f"Reverted Spider-Boy's teams: {list(spider_boy.teams.all())!r}")
