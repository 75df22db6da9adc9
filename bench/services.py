"""Benchmark the bulk connection services against a per-hero loop, on SQLite and PostgreSQL.

    .venv/bin/python bench/services.py [--database sqlite|postgres|both] [--heroes 15000]

Builds a fresh database per backend (a temporary SQLite file; the PostgreSQL database
`heroes_bench_services`), then for each bulk operation measures, on 10, 10,000 and all
the selected heroes, the number of queries and the median time of several runs (at
10,000, also the time of the history-recording statements alone), and on 10,000 heroes
the same change made by a loop of single-hero services. Prints a table, with the number
of history entries in the database when the largest selection was measured: each
operation runs after the ones above it, on the history they recorded.

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
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/heroes_bench_services"
RUNS = 5
# Queries are counted without BEGIN/COMMIT, which are not statements on PostgreSQL.


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
    """A fresh schema with `heroes` heroes, two teams, and half the heroes in the first."""
    from django.core.management import call_command

    from heroes.models import Hero, HeroTeamLink, Team

    call_command("migrate", verbosity=0)
    HeroTeamLink.objects.all().delete()
    Hero.objects.all().delete()
    Team.objects.all().delete()
    Team.objects.bulk_create(
        [Team(name="Bench A", headquarters="A"), Team(name="Bench B", headquarters="B")]
    )
    Hero.objects.bulk_create(
        (Hero(name=f"Bench-{i}", secret_name=f"Secret {i}", age=i % 80) for i in range(heroes)),
        batch_size=5000,
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


def measure(heroes: int) -> list[dict]:
    """Time every bulk operation on 10, 10,000 and all heroes, and a single-hero loop on 10,000."""
    from heroes import services, sql
    from heroes.models import Hero, HeroChange, Team

    team = Team.objects.get(name="Bench A")
    ids = list(Hero.objects.order_by("pk").values_list("pk", flat=True))
    services.bulk_join_team(heroes=Hero.objects.filter(pk__in=ids[: len(ids) // 2]), team=team)

    bulk = {
        "assign team": lambda qs: services.bulk_assign_team(heroes=qs, team=team),
        "clear team": lambda qs: services.bulk_clear_team(heroes=qs),
        "join team": lambda qs: services.bulk_join_team(heroes=qs, team=team),
        "leave team": lambda qs: services.bulk_leave_team(heroes=qs, team=team),
        "toggle membership": lambda qs: services.bulk_toggle_membership(heroes=qs, team=team),
        "set training": lambda qs: services.bulk_set_training(heroes=qs, team=team, training=True),
    }
    # Untimed, before each run: put the selection in the state the operation changes.
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
    rows = []
    sizes = (10, 10_000, heroes) if heroes > 10_000 else (10, heroes)
    for name, operation in bulk.items():
        row = {"operation": name}
        vacuum()
        for size in sizes:
            if size == sizes[-1]:
                row["history rows"] = HeroChange.objects.count()
            selection = Hero.objects.filter(pk__lte=ids[size - 1])
            timings, recording, queries = [], [], 0
            for _ in range(RUNS):
                reset[name](selection)
                with sql.capture() as statements:
                    start = time.perf_counter()
                    operation(selection)
                    timings.append(time.perf_counter() - start)
                queries = sum(1 for s in statements if s.params is not None)
                # What recording the history costs: its own statements' time.
                recording.append(sum(s.duration for s in statements if is_history(s)))
            row[f"queries@{size}"] = queries
            row[f"ms@{size}"] = statistics.median(timings) * 1000
            if size == 10_000:
                row["history ms@10000"] = statistics.median(recording) * 1000
        # The same change as a loop of single-hero services, once (it is slow by design).
        loop_heroes = list(Hero.objects.filter(pk__lte=ids[9_999]))
        reset[name](Hero.objects.filter(pk__lte=ids[9_999]))
        start = time.perf_counter()
        for hero in loop_heroes:
            single[name](hero)
        row["loop ms@10000"] = (time.perf_counter() - start) * 1000
        row["speed-up"] = row["loop ms@10000"] / row["ms@10000"]
        rows.append(row)
    return rows


def run_backend(database: str, heroes: int) -> list[dict]:
    if database == "sqlite":
        path = Path(tempfile.mkdtemp()) / "bench.sqlite3"
        setup_django(f"sqlite:///{path}")
    else:
        subprocess.run(
            [
                "psql",
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-c",
                "DROP DATABASE IF EXISTS heroes_bench_services",
                "-c",
                "CREATE DATABASE heroes_bench_services",
            ],
            check=True,
        )
        setup_django(POSTGRES_URL)
    build(heroes)
    return measure(heroes)


def print_table(database: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    print(f"\n{database}")
    widths = [max(len(c), 10) for c in columns]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        cells = []
        for column, width in zip(columns, widths, strict=True):
            value = row[column]
            text = f"{value:.1f}" if isinstance(value, float) else str(value)
            cells.append(text.ljust(width))
        print(" | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--heroes", type=int, default=15_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print_table(args.database, run_backend(args.database, args.heroes))
        return
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(f"Bulk services vs a per-hero loop; {args.heroes} heroes; median of {RUNS} runs")
    for database in databases:
        # One process per backend: Django's settings are read once.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--database",
                database,
                "--heroes",
                str(args.heroes),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
