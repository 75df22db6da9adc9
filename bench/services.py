"""Benchmark the bulk connection services against a per-hero loop, on SQLite and PostgreSQL.

    .venv/bin/python bench/services.py [--database sqlite|postgres|both] [--heroes 1000000]

Builds a fresh database per backend (a temporary SQLite file; the PostgreSQL database
`heroes_bench_services`, dropped afterwards) at the admin issue's size: `--heroes` heroes,
a hundredth as many teams and three memberships per hero, from
`heroes.synthetic.generate(..., seed=1)`, plus two teams of the bench's own. Then for
each bulk operation it measures, on 10, 10,000 and 15,000 selected heroes, the number of
queries and the median time of several runs (at 10,000, also the time of the
history-recording statements alone), and on 10,000 heroes the same change made by a
loop of single-hero services. Each operation has heroes of its own (15,000 consecutive
ids, a slice of the table), half of them members of the bench's first team: it is
measured on the history it makes itself, not on that of the operations before it.

Then the deep-history case: the toggle's 15,000 heroes are toggled until each has
`--deep` entries in the history (1,080,000 entries for 72), and their toggle is timed
again: a bulk change writes each entry into its hero's place in the history's
(hero, change set) index, and with a long history per hero those places are thousands
of pages apart. It is printed for what it costs; the target is for the table above.

On PostgreSQL each operation starts after a VACUUM ANALYZE (untimed), as autovacuum
would have run between two bursts of changes: this machine's server runs with it off,
and each operation would otherwise pay for the dead rows of all those before it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_DB = "heroes_bench_services"
POSTGRES_URL = f"postgres://postgres@127.0.0.1:5432/{POSTGRES_DB}"
PSQL = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres"]
RUNS = 5
SIZES = (10, 10_000, 15_000)
# Queries are counted without BEGIN/COMMIT, which are not statements on PostgreSQL.
TARGET_SPEED_UP = 20
TARGET_TOGGLE_MS = {"sqlite": 100, "postgres": 400}


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    # Production-like: DEBUG off, so no query log in memory.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-not-a-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heroes_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build(heroes: int) -> None:
    """A fresh schema with `heroes` heroes, their teams and memberships, and two bench teams."""
    from django.core.management import call_command

    from heroes import seed, synthetic
    from heroes.models import Team

    call_command("migrate", verbosity=0)
    seed.reset()
    synthetic.generate(heroes=heroes, teams=max(heroes // 100, 10), links=3 * heroes, seed=1)
    Team.objects.bulk_create(
        [Team(name="Bench A", headquarters="A"), Team(name="Bench B", headquarters="B")]
    )


def is_history(statement) -> bool:
    """A write of the history tables (change set and its entries)."""
    head = statement.sql.split("(", 1)[0]
    return statement.verb in {"INSERT", "UPDATE", "DELETE"} and (
        '"changeset"' in head or '"herochange"' in head
    )


def vacuum() -> None:
    """VACUUM ANALYZE on PostgreSQL (dead rows and statistics, as autovacuum would)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def operations(team) -> tuple[dict, dict, dict]:
    """Each operation in bulk, what puts a selection in the state it changes, and singly."""
    from heroes import services

    bulk = {
        "assign team": lambda qs: services.bulk_assign_team(heroes=qs, team=team),
        "clear team": lambda qs: services.bulk_clear_team(heroes=qs),
        "join team": lambda qs: services.bulk_join_team(heroes=qs, team=team),
        "leave team": lambda qs: services.bulk_leave_team(heroes=qs, team=team),
        "toggle membership": lambda qs: services.bulk_toggle_membership(heroes=qs, team=team),
        "set training": lambda qs: services.bulk_set_training(heroes=qs, team=team, training=True),
    }
    # Untimed, before each run.
    reset = {
        "assign team": lambda qs: services.bulk_clear_team(heroes=qs),
        "clear team": lambda qs: services.bulk_assign_team(heroes=qs, team=team),
        "join team": lambda qs: services.bulk_leave_team(heroes=qs, team=team),
        "leave team": lambda qs: services.bulk_join_team(heroes=qs, team=team),
        "toggle membership": lambda qs: None,
        "set training": lambda qs: (
            services.bulk_join_team(heroes=qs, team=team),
            services.bulk_set_training(heroes=qs, team=team, training=False),
        ),
    }
    single = {
        "assign team": lambda hero: services.assign_team(hero=hero, team=team),
        "clear team": lambda hero: services.clear_team(hero=hero),
        "join team": lambda hero: services.join_team(hero=hero, team=team),
        "leave team": lambda hero: services.leave_team(hero=hero, team=team),
        "toggle membership": lambda hero: services.toggle_membership(hero=hero, team=team),
        "set training": lambda hero: services.set_training(hero=hero, team=team, training=True),
    }
    return bulk, reset, single


def timed(operation, reset, selection) -> tuple[float, float, int]:
    """One run of `operation` on `selection`, after `reset`: seconds, of which history, queries."""
    from heroes import sql

    reset(selection)
    with sql.capture() as statements:
        start = time.perf_counter()
        operation(selection)
        elapsed = time.perf_counter() - start
    queries = sum(1 for s in statements if s.params is not None)
    # What recording the history costs: its own statements' time.
    recording = sum(s.duration for s in statements if is_history(s))
    return elapsed, recording, queries


def slices(count: int) -> list[list[int]]:
    """`count` runs of SIZES[-1] consecutive hero ids, spread over the table."""
    from heroes.models import Hero

    ids = list(Hero.objects.order_by("pk").values_list("pk", flat=True))
    size = SIZES[-1]
    step = max(size, (len(ids) - size) // count)
    chosen = [ids[i * step : i * step + size] for i in range(count)]
    if len(chosen[-1]) < size:
        raise SystemExit(f"--heroes is too small: {count} operations need {count * size} heroes.")
    return chosen


def measure(database: str) -> list[dict]:
    """Time every bulk operation on SIZES heroes of its own, and a single-hero loop on 10,000."""
    from heroes import services
    from heroes.models import Hero, HeroChange, Team

    team = Team.objects.get(name="Bench A")
    bulk, reset, single = operations(team)
    rows = []
    for (name, operation), ids in zip(bulk.items(), slices(len(bulk)), strict=True):
        services.bulk_join_team(
            heroes=Hero.objects.filter(pk__gte=ids[0], pk__lte=ids[len(ids) // 2 - 1]), team=team
        )
        row = {"operation": name}
        vacuum()
        for size in SIZES:
            if size == SIZES[-1]:
                row["history entries"] = HeroChange.objects.count()
            selection = Hero.objects.filter(pk__gte=ids[0], pk__lte=ids[size - 1])
            runs = [timed(operation, reset[name], selection) for _ in range(RUNS)]
            row[f"queries@{size}"] = runs[-1][2]
            row[f"ms@{size}"] = statistics.median(run[0] for run in runs) * 1000
            if size == 10_000:
                row["history ms@10000"] = statistics.median(run[1] for run in runs) * 1000
        # The same change as a loop of single-hero services, once (it is slow by design).
        loop = Hero.objects.filter(pk__gte=ids[0], pk__lte=ids[9_999])
        reset[name](loop)
        heroes = list(loop)
        start = time.perf_counter()
        for hero in heroes:
            single[name](hero)
        row["loop ms@10000"] = (time.perf_counter() - start) * 1000
        row["speed-up"] = row["loop ms@10000"] / row["ms@10000"]
        same = len({row[f"queries@{size}"] for size in SIZES}) == 1
        fast = row["speed-up"] >= TARGET_SPEED_UP
        if name == "toggle membership":
            fast = fast and row[f"ms@{SIZES[-1]}"] <= TARGET_TOGGLE_MS[database]
        row["target"] = "met" if same and fast else "NOT MET"
        rows.append(row)
    return rows


def measure_deep(entries_per_hero: int) -> list[dict]:
    """The toggle's heroes toggled until each has `entries_per_hero` entries; then timed."""
    from django.db.models import Count

    from heroes.models import Hero, HeroChange, Team

    bulk, reset, _ = operations(Team.objects.get(name="Bench A"))
    ids = slices(len(bulk))[list(bulk).index("toggle membership")]
    selection = Hero.objects.filter(pk__gte=ids[0], pk__lte=ids[-1])
    entries = HeroChange.objects.filter(hero__in=selection)
    have = entries.values("hero").annotate(n=Count("pk")).order_by("n").values("n")[:1]
    for _ in range(max(0, entries_per_hero - (have[0]["n"] if have else 0))):
        bulk["toggle membership"](selection)
    vacuum()
    runs = [
        timed(bulk["toggle membership"], reset["toggle membership"], selection) for _ in range(RUNS)
    ]
    return [
        {
            "heroes": len(ids),
            "their entries": entries.count(),
            "history entries": HeroChange.objects.count(),
            "queries": runs[-1][2],
            "ms": statistics.median(run[0] for run in runs) * 1000,
            "history ms": statistics.median(run[1] for run in runs) * 1000,
        }
    ]


def run_backend(database: str, heroes: int, deep: int) -> dict[str, list[dict]]:
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as data:
            setup_django(f"sqlite:///{Path(data) / 'bench.sqlite3'}")
            build(heroes)
            return {"bulk": measure(database), "deep": measure_deep(deep)}
    drop = f"DROP DATABASE IF EXISTS {POSTGRES_DB}"
    subprocess.run([*PSQL, "-c", drop, "-c", f"CREATE DATABASE {POSTGRES_DB}"], check=True)
    setup_django(POSTGRES_URL)
    try:
        build(heroes)
        return {"bulk": measure(database), "deep": measure_deep(deep)}
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, "-c", drop], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--heroes", type=int, default=1_000_000)
    parser.add_argument(
        "--deep", type=int, default=72, help="history entries per hero for the deep-history case"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tables = run_backend(args.database, args.heroes, args.deep)
        from bench.admin import print_table  # importable once Django is set up (sys.path)

        limit = TARGET_TOGGLE_MS[args.database]
        print_table(
            f"{args.database}: bulk services vs a per-hero loop, median of {RUNS} runs (targets: "
            f"the same queries at every size, >= {TARGET_SPEED_UP}x the loop at 10,000, "
            f"toggling 15,000 <= {limit} ms)",
            tables["bulk"],
        )
        print_table(
            f"{args.database}: toggling the same 15,000 heroes with {args.deep} history "
            "entries each (measured, no target)",
            tables["deep"],
        )
        return
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(
        f"Bulk services: {args.heroes:,} heroes, {max(args.heroes // 100, 10):,} teams, "
        f"{3 * args.heroes:,} memberships"
    )
    for database in databases:
        # One process per backend: Django's settings are read once.
        command = [sys.executable, __file__, "--child", "--database", database]
        command += ["--heroes", str(args.heroes), "--deep", str(args.deep)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
