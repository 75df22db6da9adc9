"""What every Heroes command shares: `--sql`, naming heroes and teams, and clean errors."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model

from heroes import history, sql
from heroes.models import ChangeSet, Hero, Team
from heroes.services import ServiceError

CANDIDATES = 10


class HeroesCommand(BaseCommand):
    """A command with `--sql`; subclasses implement `run(**options)` instead of `handle`.

    A `ServiceError` becomes a `CommandError`: its message on stderr and exit status 1.
    """

    def add_arguments(self, parser):
        parser.add_argument(
            "--sql",
            action="store_true",
            help="Echo every SQL statement with its duration and parameters, as it runs.",
        )

    def handle(self, *args, **options):
        actor = history.command_line_actor()
        try:
            with history.attributed(actor=actor, source=ChangeSet.Source.COMMAND):
                if options["sql"]:
                    with sql.echo_to(self.stdout):
                        self.run(**options)
                else:
                    self.run(**options)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc

    def run(self, **options):
        raise NotImplementedError("subclasses of HeroesCommand must provide a run() method")


def _resolve(model: type[Model], text: str) -> Model:
    """Find one row of `model` by id or exact name, or fail naming the candidates."""
    noun, nouns = model._meta.verbose_name, model._meta.verbose_name_plural
    text = text.strip()
    if "\x00" in text:
        # PostgreSQL refuses NUL in text parameters; no name can hold one anyway.
        raise CommandError(f"No {noun} with id or name {text!r}: names cannot contain NUL.")
    # ASCII digits only: "²" is a digit to str.isdigit() but not to int().
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        found = model.objects.filter(pk=int(text)).first()
        if found is not None:
            return found
    matches = list(model.objects.filter(name=text).order_by("pk")[: CANDIDATES + 1])
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(f"{match.name} (id {match.pk})" for match in matches[:CANDIDATES])
        more = " and more" if len(matches) > CANDIDATES else ""
        raise CommandError(
            f'{len(matches) if not more else "Many"} {nouns} are named "{text}": '
            f"{listed}{more}. Give the id instead."
        )
    similar = list(
        model.objects.filter(name__icontains=text)
        .order_by("name")
        .values_list("name", flat=True)[:CANDIDATES]
    )
    if similar:
        raise CommandError(
            f'No {noun} with id or name "{text}". Names containing it: {", ".join(similar)}.'
        )
    raise CommandError(f'No {noun} with id or name "{text}", and no name contains it.')


def resolve_hero(text: str) -> Hero:
    """The hero whose id or exact name is `text`; CommandError naming candidates otherwise."""
    return _resolve(Hero, text)


def resolve_team(text: str) -> Team:
    """The team whose id or exact name is `text`; CommandError naming candidates otherwise."""
    return _resolve(Team, text)


class MembershipCommand(HeroesCommand):
    """A command taking HERO and TEAM that changes a membership, then prints the hero's teams."""

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("hero", help="The hero's id or exact name.")
        parser.add_argument("team", help="The team's id or exact name.")

    def change(self, *, hero: Hero, team: Team, **options):
        raise NotImplementedError("subclasses of MembershipCommand must provide change()")

    def run(self, *, hero, team, **options):
        hero = resolve_hero(hero)
        result = self.change(hero=hero, team=resolve_team(team), **options)
        self.stdout.write(result.message)
        self.stdout.write(f"{hero.name}'s teams: {list(hero.teams.all())!r}")


def format_row(values, widths) -> str:
    """One line of a text table: the values padded to `widths` (the last one unpadded)."""
    cells = [str(value).ljust(width) for value, width in zip(values, widths, strict=False)]
    cells += [str(value) for value in values[len(widths) :]]
    return " | ".join(cells).rstrip()


def rule(widths, last: int) -> str:
    """The line under a text table's header."""
    return "-+-".join("-" * width for width in [*widths, last])
