"""Benchmark the hero change list of the admin against a floor and an untuned ModelAdmin.

    .venv/bin/python bench/admin.py [--database sqlite|postgres|both] [--sizes 10000,1000000]

For each backend a fresh database (a temporary SQLite file; the PostgreSQL database
`heroes_bench_admin`) is filled by `heroes.synthetic.generate` at each size (heroes, a
hundredth as many teams, three memberships per hero). Then, at 20 and 100 rows per
page, the first page of the hero change list is requested through Django's test
client, interleaved with two references on the same request stack: the "floor" (the
same rows, team and memberships by one raw SQL query, rendered by a minimal template)
and a plain ModelAdmin with the same columns and no tuning (on a second admin site).
Prints queries per page and the median (p50) time of each, and the ratios of medians.
The target is at most 6 queries for the admin's page at every size and page size.
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
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/heroes_bench_admin"
RUNS = 15
PAGE_SIZES = (20, 100)
TARGET_QUERIES = 6

FLOOR_TEMPLATE = """<!doctype html><title>Heroes</title><table>
{% for row in rows %}<tr><td>{{ row.0 }}</td><td>{{ row.1 }}</td><td>{{ row.2 }}</td>
<td>{{ row.3|default:"-" }}</td><td>{{ row.4|default:"-" }}</td>
<td>{{ row.5|default:"-" }}</td></tr>{% endfor %}</table>"""


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    # Production-like: DEBUG off (no debug toolbar, no query log), plain HTTP.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DJANGO_HTTPS"] = "0"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-not-a-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heroes_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def urlconf():
    """The project's URLs, plus the floor view and an untuned admin site for Hero."""
    from django.contrib import admin
    from django.db import connection
    from django.http import HttpResponse
    from django.template import Context, Template
    from django.urls import path

    from heroes.models import Hero
    from heroes_site.urls import urlpatterns

    class PlainHeroAdmin(admin.ModelAdmin):
        list_display = ["id", "name", "secret_name", "age", "team", "memberships"]
        search_fields = ["name", "secret_name"]
        list_filter = ["team"]

        @admin.display(description="memberships")
        def memberships(self, hero):
            return ", ".join(team.name for team in hero.teams.all()) or None

    plain = admin.AdminSite(name="plain")
    plain.register(Hero, PlainHeroAdmin)
    template = Template(FLOOR_TEMPLATE)
    aggregate = (
        "STRING_AGG(t2.name, ', ' ORDER BY t2.name)"
        if connection.vendor == "postgresql"
        else "GROUP_CONCAT(t2.name, ', ')"
    )
    floor_sql = f"""
        SELECT h.id, h.name, h.secret_name, h.age, t.name,
               (SELECT {aggregate} FROM heroteamlink l JOIN team t2 ON t2.id = l.team_id
                WHERE l.hero_id = h.id)
        FROM hero h LEFT JOIN team t ON t.id = h.team_id
        ORDER BY h.id LIMIT %s"""

    def floor(request):
        with connection.cursor() as cursor:
            cursor.execute(floor_sql, [int(request.GET["n"])])
            rows = cursor.fetchall()
        return HttpResponse(template.render(Context({"rows": rows})))

    class URLs:
        pass

    URLs.urlpatterns = [path("floor/", floor), path("plain/", plain.urls), *urlpatterns]
    return URLs, PlainHeroAdmin


def build(database: str, heroes: int) -> None:
    from django.core.management import call_command

    from heroes import seed, synthetic

    call_command("migrate", verbosity=0)
    seed.reset()
    synthetic.generate(heroes=heroes, teams=max(heroes // 100, 10), links=3 * heroes, seed=1)
    if database == "postgres":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def measure(sizes: list[int], database: str) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from heroes.admin import HeroAdmin

    urls, plain_admin = urlconf()
    rows = []
    for size in sizes:
        build(database, size)
        user = get_user_model().objects.create_superuser("bench", password=None)
        client = Client()
        client.force_login(user)
        with override_settings(ROOT_URLCONF=urls):
            for per_page in PAGE_SIZES:
                HeroAdmin.list_per_page = plain_admin.list_per_page = per_page
                pages = {
                    "admin": "/admin/heroes/hero/",
                    "plain": "/plain/heroes/hero/",
                    "floor": f"/floor/?n={per_page}",
                }
                timings = {name: [] for name in pages}
                queries = {}
                for name, url in pages.items():  # Warm up, and count queries once.
                    with CaptureQueriesContext(connection) as captured:
                        response = client.get(url)
                    assert response.status_code == 200, (name, response.status_code)
                    queries[name] = len(captured)
                for _ in range(RUNS):  # Interleaved, so that drifts hit all three alike.
                    for name, url in pages.items():
                        start = time.perf_counter()
                        client.get(url)
                        timings[name].append(time.perf_counter() - start)
                p50 = {name: statistics.median(values) * 1000 for name, values in timings.items()}
                rows.append(
                    {
                        "heroes": f"{size:,}",
                        "per page": per_page,
                        "admin q": queries["admin"],
                        "plain q": queries["plain"],
                        "floor q": queries["floor"],
                        "admin p50 ms": p50["admin"],
                        "plain p50 ms": p50["plain"],
                        "floor p50 ms": p50["floor"],
                        "admin/floor": p50["admin"] / p50["floor"],
                        "plain/floor": p50["plain"] / p50["floor"],
                        "target": "met" if queries["admin"] <= TARGET_QUERIES else "MISSED",
                    }
                )
        user.delete()
    return rows


def run_backend(database: str, sizes: list[int]) -> list[dict]:
    if database == "sqlite":
        path = Path(tempfile.mkdtemp()) / "bench.sqlite3"
        setup_django(f"sqlite:///{path}")
        try:
            return measure(sizes, database)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres"]
    drop = "DROP DATABASE IF EXISTS heroes_bench_admin"
    subprocess.run([*psql, "-c", drop, "-c", "CREATE DATABASE heroes_bench_admin"], check=True)
    setup_django(POSTGRES_URL)
    try:
        return measure(sizes, database)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*psql, "-c", drop], check=True)


def print_table(database: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    cells = [
        [f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        for row in rows
    ]
    widths = [
        max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)
    ]
    print(f"\n{database}")
    print(" | ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in cells:
        print(" | ".join(text.rjust(w) for text, w in zip(line, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--sizes", default="10000,1000000", help="Comma-separated numbers of heroes."
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.child:
        print_table(args.database, run_backend(args.database, sizes))
        return
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(
        f"Hero change list, first page: queries and p50 of {RUNS} interleaved runs "
        f"(target: admin at most {TARGET_QUERIES} queries)"
    )
    for database in databases:
        # One process per backend: Django's settings are read once.
        command = [sys.executable, __file__, "--child", "--database", database]
        subprocess.run([*command, "--sizes", args.sizes], check=True)


if __name__ == "__main__":
    main()
