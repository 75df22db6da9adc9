"""Benchmark `seed_heroes --heroes N --teams M --links K` on SQLite and PostgreSQL.

    .venv/bin/python bench/seed.py [--heroes 1000000 --teams 10000 --links 3000000]
                                   [--database sqlite|postgres|both] [--seed 1]

For each database: a fresh one (a temporary SQLite file; the PostgreSQL database
`heroes_bench`, dropped and created again), migrated, then `manage.py seed_heroes` run as
a subprocess with DJANGO_DEBUG=1, its wall time and peak memory (maximum resident set
size) measured and its rows counted. Prints a table, with whether the targets are met.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"
POSTGRES_DATABASE = "heroes_bench"
TARGET_SECONDS = 60
TARGET_MB = 500
COUNT = (
    "from heroes.models import Hero, HeroTeamLink, Team; "
    "print(Hero.objects.count(), Team.objects.count(), HeroTeamLink.objects.count())"
)


@contextmanager
def sqlite_database():
    """A migrated SQLite database in a temporary directory; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="heroes-bench-") as directory:
        yield f"sqlite:///{directory}/bench.sqlite3"


@contextmanager
def postgres_database():
    """A fresh `heroes_bench` database, dropped afterwards; yields its URL."""
    import psycopg

    def admin(statement: str) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(statement)

    admin(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)")
    admin(f"CREATE DATABASE {POSTGRES_DATABASE}")
    try:
        yield f"{POSTGRES}/{POSTGRES_DATABASE}"
    finally:
        admin(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)")


DATABASES = {"sqlite": sqlite_database, "postgres": postgres_database}


def manage(env: dict, *args: str) -> str:
    """Run `manage.py` with `args`; return its stdout, or exit with its output on failure."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def measure(env: dict, *args: str) -> tuple[float, float, str]:
    """Run `manage.py` with `args`: seconds, peak resident memory in MB, and its stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=out, stderr=err
        )
        # wait4 gives this child's own resource usage (ru_maxrss is in KiB on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            sys.exit(f"manage.py {' '.join(args)} failed:\n{out.read()}{err.read()}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def run(database: str, heroes: int, teams: int, links: int, seed: int) -> dict:
    with DATABASES[database]() as url:
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "1"}
        manage(env, "migrate", "--verbosity", "0")
        seconds, peak_mb, output = measure(
            env,
            "seed_heroes",
            f"--heroes={heroes}",
            f"--teams={teams}",
            f"--links={links}",
            f"--seed={seed}",
        )
        counted = tuple(int(n) for n in manage(env, "shell", "--no-imports", "-c", COUNT).split())
        if counted != (heroes, teams, links):
            sys.exit(f"{database}: expected {heroes, teams, links} rows, found {counted}")
    print(f"{database}: {output.strip()}", flush=True)
    return {
        "database": database,
        "heroes": heroes,
        "teams": teams,
        "links": links,
        "seconds": seconds,
        "rows/s": (heroes + teams + links) / seconds,
        "peak MB": peak_mb,
    }


def table(results: list[dict]) -> str:
    columns = ["database", "heroes", "teams", "links", "seconds", "rows/s", "peak MB", "targets"]
    rows = [
        [
            result["database"],
            f"{result['heroes']:,}",
            f"{result['teams']:,}",
            f"{result['links']:,}",
            f"{result['seconds']:.1f}",
            f"{result['rows/s']:,.0f}",
            f"{result['peak MB']:.0f}",
            verdict(result),
        ]
        for result in results
    ]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    lines = [
        " | ".join(
            cell.rjust(width) if 0 < index < 7 else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in [columns, ["-" * width for width in widths], *rows]
    ]
    return "\n".join(lines)


def verdict(result: dict) -> str:
    missed = []
    if result["seconds"] >= TARGET_SECONDS:
        missed.append(f">= {TARGET_SECONDS} s")
    if result["peak MB"] >= TARGET_MB:
        missed.append(f">= {TARGET_MB} MB")
    return (
        f"missed ({', '.join(missed)})"
        if missed
        else f"met (< {TARGET_SECONDS} s, < {TARGET_MB} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heroes", type=int, default=1_000_000)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument("--links", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    options = parser.parse_args()
    databases = ["sqlite", "postgres"] if options.database == "both" else [options.database]
    results = [
        run(database, options.heroes, options.teams, options.links, options.seed)
        for database in databases
    ]
    print(table(results))


if __name__ == "__main__":
    main()
