"""Benchmark the admin against floors and an untuned ModelAdmin, interleaved, as ratios.

    .venv/bin/python bench/admin.py [--database sqlite|postgres|both] [--sizes 10000,1000000]

For each backend a fresh database (a temporary SQLite file; the PostgreSQL database
`heroes_bench_admin`) is filled by `heroes.synthetic.generate` at each size (heroes, a
hundredth as many teams, three memberships per hero), plus one team with 100,000 members
(an INSERT ... SELECT; fewer at smaller sizes). Every page is requested through Django's
test client, each beside its baseline, interleaved (A, B, A, B...) so that drifts hit
both alike; the figures are medians (p50) and their ratios. Six measurements:

- list: the hero change list's first page vs the floor (the same rows by one raw SQL
  query, a minimal template) and a plain ModelAdmin with the same columns;
- deep: page 5,000 of the change list vs its first page;
- search: a substring search ("man") of name and secret name vs the plain admin's;
- forms: every form with a hero or team chooser, its HTML size and queries;
- delete: deleting the team with 100,000 members vs Django's stock delete page.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/heroes_bench_admin"
RUNS = 15
# A pair of pages gets fewer runs when it is slow (Django's stock pages at 1,000,000
# heroes take seconds), but never fewer than MIN_RUNS.
MIN_RUNS = 3
PAIR_BUDGET_S = 20
PAGE_SIZES = (20, 100)
DEEP_PAGE = 5_000
SEARCH = "man"
BIG_TEAM_MEMBERS = 100_000
TARGET_QUERIES = 6
TARGET_FLOOR = 6.0
TARGET_PLAIN = 0.6
TARGET_DEEP = 1.2
TARGET_SEARCH = 0.1  # PostgreSQL only; measured on SQLite.
TARGET_FORM_KB = 50
TARGET_DELETE = 0.2

FLOOR_TEMPLATE = """<!doctype html><title>Heroes</title><table>
{% for row in rows %}<tr><td>{{ row.0 }}</td><td>{{ row.1 }}</td><td>{{ row.2 }}</td>
<td>{{ row.3|default:"-" }}</td><td>{{ row.4|default:"-" }}</td>
<td>{{ row.5|default:"-" }}</td></tr>{% endfor %}</table>"""


def setup_django(database_url: str, static_root: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    # Production-like: DEBUG off (no debug toolbar, no query log), plain HTTP.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DJANGO_HTTPS"] = "0"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    # Static URLs without collectstatic's manifest (the test client fetches no static file).
    os.environ["DJANGO_STATIC_MANIFEST"] = "0"
    os.environ["DJANGO_STATIC_ROOT"] = static_root
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-not-a-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heroes_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def urlconf():
    """The project's URLs, plus the floor view and an untuned admin site ("plain")."""
    from django.contrib import admin
    from django.db import connection
    from django.http import HttpResponse
    from django.template import Context, Template
    from django.urls import path

    from heroes.models import Hero, HeroTeamLink, Team
    from heroes_site.urls import urlpatterns

    class PlainMembershipInline(admin.TabularInline):
        model = HeroTeamLink

    class PlainHeroAdmin(admin.ModelAdmin):
        list_display = ["id", "name", "secret_name", "age", "team", "memberships"]
        search_fields = ["name", "secret_name"]
        list_filter = ["team"]
        inlines = [PlainMembershipInline]

        @admin.display(description="memberships")
        def memberships(self, hero):
            return ", ".join(team.name for team in hero.teams.all()) or None

    class PlainLinkAdmin(admin.ModelAdmin):
        # A stock select of 1,000,000 heroes would be some 50 MB: the stock raw id instead.
        raw_id_fields = ["hero"]

    class PlainTeamAdmin(admin.ModelAdmin):
        # Django's own page, not the project's override for the heroes app's teams.
        delete_confirmation_template = "admin/delete_confirmation.html"

    plain = admin.AdminSite(name="plain")
    plain.register(Hero, PlainHeroAdmin)
    plain.register(Team, PlainTeamAdmin)
    plain.register(HeroTeamLink, PlainLinkAdmin)
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

    from bench.floor import staff_only

    @staff_only  # as the issue asks: the floor checks who asks, as the admin does
    def floor(request):
        with connection.cursor() as cursor:
            cursor.execute(floor_sql, [int(request.GET["n"])])
            rows = cursor.fetchall()
        return HttpResponse(template.render(Context({"rows": rows})))

    class URLs:
        pass

    URLs.urlpatterns = [path("floor/", floor), path("plain/", plain.urls), *urlpatterns]
    return URLs, PlainHeroAdmin


def build(database: str, heroes: int) -> dict:
    """Fill the database; return the ids the pages need (the big team, a hero, a link)."""
    from django.core.management import call_command
    from django.db import connection

    from heroes import seed, synthetic
    from heroes.models import Hero, HeroTeamLink, Team

    call_command("migrate", verbosity=0)
    seed.reset()
    synthetic.generate(heroes=heroes, teams=max(heroes // 100, 10), links=3 * heroes, seed=1)
    big = Team.objects.create(name="Benchmark: the big team", headquarters="Everywhere")
    members = min(BIG_TEAM_MEMBERS, heroes // 2)
    with connection.cursor() as cursor:
        # Members from the middle of the table; the first page's heroes stay as generated.
        cursor.execute(
            "INSERT INTO heroteamlink (hero_id, team_id, is_training)"
            " SELECT id, %s, %s FROM hero WHERE id > %s ORDER BY id LIMIT %s",
            [big.pk, False, heroes // 4, members],
        )
        if database == "postgres":
            # As autovacuum would have done by now: statistics and the visibility map
            # (which index-only scans rely on).
            cursor.execute("VACUUM ANALYZE")
    hero = Hero.objects.filter(pk__gt=heroes // 2, team__isnull=False).order_by("pk").first()
    link = HeroTeamLink.objects.filter(hero=hero).order_by("pk").first()
    return {"team": big.pk, "members": members, "hero": hero.pk, "link": link.pk}


class Bench:
    """Requests through one client; times pairs of pages interleaved."""

    def __init__(self, client):
        from django.db import connection

        self.client = client
        self.connection = connection

    def request(self, page):
        method, url, data = page
        if method == "post":
            return self.client.post(url, data)
        return self.client.get(url, data)

    def probe(self, page) -> dict:
        """One (warm-up) request: its status, queries, HTML size and time."""
        queries = 0

        def count(execute, sql, params, many, context):
            # Counted, not logged: Django's query log keeps only the last 9,000.
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        with self.connection.execute_wrapper(count):
            start = time.perf_counter()
            response = self.request(page)
            elapsed = time.perf_counter() - start
        assert response.status_code == 200, (page, response.status_code)
        return {"queries": queries, "kb": len(response.content) / 1024, "s": elapsed}

    def pair(self, a, b) -> tuple[dict, dict, int]:
        """p50 (ms) of pages `a` and `b`, requested in turn; their probes and the runs."""
        probes = [self.probe(a), self.probe(b)]
        probes = [self.probe(a), self.probe(b)]  # Warm, after a first request of each.
        per_round = probes[0]["s"] + probes[1]["s"]
        runs = max(MIN_RUNS, min(RUNS, int(PAIR_BUDGET_S / per_round)))
        timings = ([], [])
        for _ in range(runs):
            for page, times in zip((a, b), timings, strict=True):
                start = time.perf_counter()
                self.request(page)
                times.append(time.perf_counter() - start)
        for probe, times in zip(probes, timings, strict=True):
            probe["p50"] = statistics.median(times) * 1000
        return probes[0], probes[1], runs


def met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def get(url, **data):
    return ("get", url, data)


def measure(sizes: list[int], database: str) -> dict[str, list[dict]]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    from heroes.admin import HeroAdmin
    from heroes.models import Hero

    urls, plain_admin = urlconf()
    tables = {"list": [], "deep": [], "search": [], "forms": [], "delete": []}
    for size in sizes:
        ids = build(database, size)
        user = get_user_model().objects.create_superuser("bench", password=None)
        client = Client()
        client.force_login(user)
        bench = Bench(client)
        label = f"{size:,}"
        with override_settings(ROOT_URLCONF=urls):
            for per_page in PAGE_SIZES:
                HeroAdmin.list_per_page = plain_admin.list_per_page = per_page
                admin_page = get("/admin/heroes/hero/")
                a, f, runs = bench.pair(admin_page, get("/floor/", n=per_page))
                a2, p, runs2 = bench.pair(admin_page, get("/plain/heroes/hero/"))
                ok = a["queries"] <= TARGET_QUERIES
                tables["list"].append(
                    {
                        "heroes": label,
                        "per page": per_page,
                        "admin q": a["queries"],
                        "floor q": f["queries"],
                        "plain q": p["queries"],
                        "admin ms": a["p50"],
                        "floor ms": f["p50"],
                        "admin/floor": a["p50"] / f["p50"],
                        "admin ms ": a2["p50"],
                        "plain ms": p["p50"],
                        "admin/plain": a2["p50"] / p["p50"],
                        "runs": f"{runs}/{runs2}",
                        "queries": met(ok),
                        "vs floor": met(a["p50"] / f["p50"] <= TARGET_FLOOR),
                        "vs plain": met(a2["p50"] / p["p50"] <= TARGET_PLAIN),
                    }
                )

            HeroAdmin.list_per_page = plain_admin.list_per_page = 100
            deep = min(DEEP_PAGE, size // 100)
            ids_before = Hero.objects.order_by("pk").values_list("pk", flat=True)
            expected = list(ids_before[(deep - 1) * 100 : deep * 100])
            after = ids_before[(deep - 1) * 100 - 1]
            plain_first, plain_deep, plain_runs = bench.pair(
                get("/plain/heroes/hero/"), get("/plain/heroes/hero/", p=deep)
            )
            # Django's admin numbers pages from 1 in its links (?p=N); the "next" link
            # of page N-1 adds the keyset cursor (after=<its last id>).
            for how, page in (
                ("its number", get("/admin/heroes/hero/", p=deep)),
                ("next link", get("/admin/heroes/hero/", p=deep, after=after)),
            ):
                first, last, runs = bench.pair(get("/admin/heroes/hero/"), page)
                html = bench.request(page).content.decode()
                shown = [
                    int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', html)
                ]
                right = shown == expected
                tables["deep"].append(
                    {
                        "heroes": label,
                        "page": f"{deep:,}",
                        "reached by": how,
                        "page 1 q": first["queries"],
                        "page N q": last["queries"],
                        "page 1 ms": first["p50"],
                        "page N ms": last["p50"],
                        "N/1": last["p50"] / first["p50"],
                        "plain N/1": plain_deep["p50"] / plain_first["p50"],
                        "runs": f"{runs}/{plain_runs}",
                        "right heroes": "yes" if right else "NO",
                        "target": met(
                            right
                            and last["p50"] / first["p50"] <= TARGET_DEEP
                            and last["queries"] == first["queries"]
                        ),
                    }
                )

            for per_page in PAGE_SIZES:
                HeroAdmin.list_per_page = plain_admin.list_per_page = per_page
                a, p, runs = bench.pair(
                    get("/admin/heroes/hero/", q=SEARCH), get("/plain/heroes/hero/", q=SEARCH)
                )
                ratio = a["p50"] / p["p50"]
                tables["search"].append(
                    {
                        "heroes": label,
                        "per page": per_page,
                        "admin q": a["queries"],
                        "plain q": p["queries"],
                        "admin ms": a["p50"],
                        "plain ms": p["p50"],
                        "admin/plain": ratio,
                        "runs": runs,
                        # The size: a small table's plain search is fast.
                        "target": met(ratio <= TARGET_SEARCH)
                        if database == "postgres" and size == max(sizes)
                        else "(measured)",
                    }
                )
            HeroAdmin.list_per_page = plain_admin.list_per_page = 100

            selection = [
                str(pk) for pk in Hero.objects.order_by("pk").values_list("pk", flat=True)[:100]
            ]

            def action(site, name, selection=selection):
                data = {"action": name, "_selected_action": selection, "index": "0"}
                return ("post", f"/{site}/heroes/hero/", data)

            hero, team, link = ids["hero"], ids["team"], ids["link"]
            forms = [
                ("hero change", get(f"/admin/heroes/hero/{hero}/change/"), "hero", hero),
                ("team change (big team)", get(f"/admin/heroes/team/{team}/change/"), "team", team),
                ("membership add", get("/admin/heroes/heroteamlink/add/"), "link", None),
                (
                    "membership change",
                    get(f"/admin/heroes/heroteamlink/{link}/change/"),
                    "link",
                    link,
                ),
            ] + [
                (f"action {name}: choose", action("admin", name), "action", None)
                for name in ("assign_team", "add_to_team", "remove_from_team", "toggle_membership")
            ]
            plain_pages = {
                "hero": lambda pk: get(f"/plain/heroes/hero/{pk}/change/"),
                "team": lambda pk: get(f"/plain/heroes/team/{pk}/change/"),
                "link": lambda pk: get(
                    f"/plain/heroes/heroteamlink/{pk}/change/"
                    if pk
                    else "/plain/heroes/heroteamlink/add/"
                ),
                "action": lambda pk: action("plain", "delete_selected"),
            }
            for name, page, kind, pk in forms:
                a, p, runs = bench.pair(page, plain_pages[kind](pk))
                tables["forms"].append(
                    {
                        "heroes": label,
                        "form": name,
                        "admin KB": a["kb"],
                        "admin q": a["queries"],
                        "admin ms": a["p50"],
                        "plain KB": p["kb"],
                        "plain q": p["queries"],
                        "plain ms": p["p50"],
                        "runs": runs,
                        "target": met(a["kb"] <= TARGET_FORM_KB and a["queries"] <= TARGET_QUERIES),
                    }
                )

            a, p, runs = bench.pair(
                get(f"/admin/heroes/team/{team}/delete/"), get(f"/plain/heroes/team/{team}/delete/")
            )
            ratio = a["p50"] / p["p50"]
            tables["delete"].append(
                {
                    "heroes": label,
                    "members": f"{ids['members']:,}",
                    "admin q": a["queries"],
                    "plain q": p["queries"],
                    "admin KB": a["kb"],
                    "plain KB": p["kb"],
                    "admin ms": a["p50"],
                    "plain ms": p["p50"],
                    "admin/plain": ratio,
                    "runs": runs,
                    "target": met(ratio <= TARGET_DELETE),
                }
            )
        user.delete()
    return tables


def run_backend(database: str, sizes: list[int]) -> dict[str, list[dict]]:
    with tempfile.TemporaryDirectory() as static_root, tempfile.TemporaryDirectory() as data:
        if database == "sqlite":
            setup_django(f"sqlite:///{Path(data) / 'bench.sqlite3'}", static_root)
            return measure(sizes, database)
        psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres"]
        drop = "DROP DATABASE IF EXISTS heroes_bench_admin"
        subprocess.run([*psql, "-c", drop, "-c", "CREATE DATABASE heroes_bench_admin"], check=True)
        setup_django(POSTGRES_URL, static_root)
        try:
            return measure(sizes, database)
        finally:
            from django.db import connections

            connections.close_all()
            subprocess.run([*psql, "-c", drop], check=True)


TITLES = {
    "list": (
        "Change list, first page: queries, p50 (ms) and ratios of medians "
        f"(targets: at most {TARGET_QUERIES} queries, admin/floor <= {TARGET_FLOOR}, "
        f"admin/plain <= {TARGET_PLAIN}; each ratio from its own interleaved pair)"
    ),
    "deep": (
        f"Deep page (100 per page): page N vs page 1, interleaved "
        f"(target: N/1 <= {TARGET_DEEP}, the same queries, the right heroes)"
    ),
    "search": (
        f'Search "{SEARCH}" (name or secret name contains it) vs the plain admin\'s '
        f"icontains search (target on PostgreSQL, at the largest size: admin/plain <= "
        f"{TARGET_SEARCH})"
    ),
    "forms": (
        "Forms with a hero or team chooser vs the plain admin's "
        f"(target: at most {TARGET_FORM_KB} KB and {TARGET_QUERIES} queries)"
    ),
    "delete": (
        "Deleting the team with the most members: the confirmation page vs Django's stock "
        f"one (target: admin/plain <= {TARGET_DELETE})"
    ),
}


def print_table(title: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    cells = [
        [f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        for row in rows
    ]
    for line, row in zip(cells, rows, strict=True):
        for i, column in enumerate(columns):
            if "/" in column and isinstance(row[column], float):
                line[i] = f"{row[column]:.2f}"
    widths = [
        max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)
    ]
    print(f"\n{title}\n")
    print(
        "| " + " | ".join(c.strip().ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"
    )
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in cells:
        print("| " + " | ".join(text.rjust(w) for text, w in zip(line, widths, strict=True)) + " |")


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
        tables = run_backend(args.database, sizes)
        print(f"\n## {args.database}")
        for name, rows in tables.items():
            print_table(TITLES[name], rows)
        sys.stdout.flush()
        return
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(
        f"Admin benchmark, {time.strftime('%Y-%m-%d %H:%M')}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; p50 of up to {RUNS} "
        f"interleaved runs per pair"
    )
    for database in databases:
        # One process per backend: Django's settings are read once.
        command = [sys.executable, __file__, "--child", "--database", database]
        subprocess.run([*command, "--sizes", args.sizes], check=True)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
