"""seed_heroes: load the tutorial's data, or generate a large synthetic data set."""

from time import perf_counter

from django.core.management.base import CommandError
from django.db import transaction
from tqdm import tqdm

from heroes import seed, synthetic
from heroes.management.base import HeroesCommand

SYNTHETIC = ("heroes", "teams", "links")


class Command(HeroesCommand):
    help = (
        "Load the tutorial's two teams, three heroes and four memberships, or, with "
        "--heroes/--teams/--links, add a large synthetic data set (with a progress bar)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete every team, hero and membership first.",
        )
        parser.add_argument("--heroes", type=int, metavar="N", help="Heroes to generate.")
        parser.add_argument("--teams", type=int, metavar="M", help="Teams to generate.")
        parser.add_argument(
            "--links", type=int, metavar="K", help="Memberships to generate, unique per pair."
        )
        parser.add_argument(
            "--seed", type=int, metavar="S", help="Random seed: the same seed, the same data."
        )

    def run(self, **options):
        if any(options[name] is not None for name in SYNTHETIC):
            counts = {name: options[name] or 0 for name in SYNTHETIC}
            self.generate(counts, random_seed=options["seed"], reset=options["reset"])
        elif options["seed"] is not None:
            raise CommandError("--seed needs --heroes, --teams or --links.")
        else:
            self.load_tutorial(reset=options["reset"])

    def load_tutorial(self, *, reset: bool):
        if not reset and not seed.tutorial_data_missing():
            self.stdout.write(
                "The tutorial data is already loaded; nothing changed. "
                "Use --reset to load it afresh."
            )
            return
        try:
            with transaction.atomic():
                if reset:
                    seed.reset()
                seed.load_tutorial()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        deleted = "Deleted every team, hero and membership, then loaded" if reset else "Loaded"
        self.stdout.write(f"{deleted} the tutorial data: 2 teams, 3 heroes, 4 memberships.")

    def generate(self, counts: dict[str, int], *, random_seed: int | None, reset: bool):
        try:
            synthetic.check(**counts)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        started = perf_counter()
        with (
            transaction.atomic(),
            tqdm(
                total=sum(counts.values()),
                unit=" rows",
                unit_scale=True,
                file=_ProgressFile(self.stderr),
                disable=None,  # on a terminal only
            ) as bar,
        ):
            if reset:
                seed.reset()
            synthetic.generate(**counts, seed=random_seed, progress=bar.update)
        seconds = perf_counter() - started
        self.stdout.write(f"Created {synthetic.describe(**counts)} in {seconds:.1f} s.")


class _ProgressFile:
    """Let tqdm redraw its bar on a command's stderr: no added newline, no error colour."""

    def __init__(self, out):
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, style_func=str, ending="")

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()
