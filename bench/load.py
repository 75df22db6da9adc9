"""Load benchmark: the staff pages and join/leave POSTs under gunicorn, each beside a floor.

    .venv/bin/python bench/load.py [--database sqlite|postgres|both] [--duration 20]
        [--heroes 1000000 --teams 10000 --links 3000000] [--connections 4]

For each backend: a fresh database (a temporary SQLite file; the PostgreSQL database
`heroes_bench_load`, dropped before and after), migrated and filled by `seed_heroes`; a
superuser with one logged-in session per connection; the app served by gunicorn
(`gunicorn.conf.py`, production settings, loopback) with `bench.urls`, which adds a
"floor" per endpoint (`bench/floor.py`: the same rows by one raw SQL query, a minimal
template). wrk drives each endpoint and its floor in alternating rounds for --duration
seconds each. Prints, and writes to bench/RESULTS.md, p50/p95/p99, requests per second,
errors, queries per request and peak RSS per endpoint, against the targets: page p50
within 3x of its floor, page 5,000 of the hero list within 1.2x of page 1, join/leave
POST p50 under 30 ms, zero errors.
"""

import argparse
import collections
import contextlib
import datetime
import importlib.metadata
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
POSTGRES_DB = "heroes_bench_load"
POSTGRES_URL = f"postgres://postgres@127.0.0.1:5432/{POSTGRES_DB}"
PSQL = ["psql", "-q", "-X", "-h", "127.0.0.1", "-U", "postgres"]
CSRF_SECRET = "LoadBenchCsrfSecretOf32Character"  # noqa: S105 -- any 32 letters or digits
RESULTS = ROOT / "bench" / "RESULTS.md"
PAGE_RATIO_TARGET = 3.0
POST_P50_TARGET_MS = 30.0
DEEP_TARGET = 1.2  # page 5,000 of the hero list against its page 1
HEROES_PER_PAGE = 50  # heroes.views.HEROES_PER_PAGE
FLOOR = "/bench/floor/"
IN_PROCESS_RUNS = 5

# wrk, one thread per connection so that each connection's requests are sequential: a
# POST connection joins a pair, then leaves it, then joins a new pair... Each thread
# counts statuses by class; done() writes them and the latency (microseconds) at 1,000
# evenly spaced quantiles, so that rounds merge (weighted by their requests) into
# percentiles good to 0.1 %. (Debian's wrk 4.1 does not expose the raw histogram.)
QUANTILES = 1000
WRK_SCRIPT = r"""
local threads, created = {}, 0
local QUANTILES = @QUANTILES@

function setup(thread)
  thread:set("id", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  out, mode, csrf = args[1], args[2], args[3]
  local seed = tonumber(args[4])
  hero_lo, hero_hi = tonumber(args[5]), tonumber(args[6])
  team_lo, team_hi = tonumber(args[7]), tonumber(args[8])
  prefix = args[9]
  local sessions = {}
  for key in string.gmatch(args[10], "[^,]+") do table.insert(sessions, key) end
  headers = {Cookie = "sessionid=" .. sessions[(id % #sessions) + 1] .. "; csrftoken=" .. csrf}
  if mode ~= "get" then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  math.randomseed(seed * 1000 + id)
  sent, hero, team = 0, 0, 0
  s1, s2, s3, s4, s5 = 0, 0, 0, 0, 0
end

function request()
  if mode == "get" then return wrk.format("GET", nil, headers) end
  local action = "leave"
  if sent % 2 == 0 then
    action = "join"
    hero, team = math.random(hero_lo, hero_hi), math.random(team_lo, team_hi)
  end
  sent = sent + 1
  local body = "team=" .. team .. "&action=" .. action .. "&csrfmiddlewaretoken=" .. csrf
  local path = prefix .. "memberships/toggle/"
  if mode == "post-hero" then
    path = prefix .. "heroes/" .. hero .. "/memberships/"
  else
    body = body .. "&hero=" .. hero
  end
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  local class = math.floor(status / 100)
  -- A redirect to the login page means the session did not work: an error.
  local location = headers["Location"]
  if location and string.find(location, "/accounts/login/", 1, true) then class = 4 end
  if class == 1 then s1 = s1 + 1 elseif class == 2 then s2 = s2 + 1
  elseif class == 3 then s3 = s3 + 1 elseif class == 4 then s4 = s4 + 1
  else s5 = s5 + 1 end
end

function done(summary, latency, requests)
  local f = io.open(threads[1]:get("out"), "w")
  local e = summary.errors
  f:write(string.format("requests %d\nduration_us %d\n", summary.requests, summary.duration))
  f:write(string.format("socket_errors %d\ntimeouts %d\n",
    e.connect + e.read + e.write, e.timeout))
  local classes = {0, 0, 0, 0, 0}
  for _, thread in ipairs(threads) do
    for k = 1, 5 do classes[k] = classes[k] + thread:get("s" .. k) end
  end
  f:write(string.format("statuses %d %d %d %d %d\n", unpack(classes)))
  if summary.requests > 0 then
    for i = 1, QUANTILES do
      f:write(string.format("%d\n", latency:percentile((i - 0.5) * 100 / QUANTILES)))
    end
  end
  f:close()
end
"""


# Machine ---------------------------------------------------------------------------------


def machine() -> dict:
    """What the numbers were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    ram_gb = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024
    os_name = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {
        "CPU": f"{model}, {os.cpu_count()} cores",
        "RAM": f"{ram_gb:.1f} GB",
        "OS": f"{os_name}, Linux {platform.release()}",
        "Python": platform.python_version(),
        "Django": importlib.metadata.version("django"),
        "gunicorn": importlib.metadata.version("gunicorn"),
        "wrk": (wrk.stdout or wrk.stderr).split("[")[0].strip().removeprefix("wrk "),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres_version(),
    }


def postgres_version() -> str:
    result = subprocess.run(
        [*PSQL, "-A", "-t", "-c", "SHOW server_version"], capture_output=True, text=True
    )
    return result.stdout.strip() or "not reachable"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("wrk is missing: installing Debian's package (apt-get install -y wrk)")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)


# Database and server ---------------------------------------------------------------------


def base_env(database_url: str, static_root: Path) -> dict:
    """Production settings (DEBUG unset) over plain HTTP on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HEROES_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SECRET_KEY="load-benchmark-only-not-a-secret-" + "x" * 32,
        DJANGO_HTTPS="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_STATIC_ROOT=str(static_root),
        DJANGO_SETTINGS_MODULE="heroes_site.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def manage(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True, **kwargs
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int, log: Path) -> subprocess.Popen:
    server_env = {
        **env,
        "DJANGO_ROOT_URLCONF": "bench.urls",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
    }
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py"],
        env=server_env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
        health = f"http://127.0.0.1:{port}/healthz"
        with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as answer:
            if answer.status == 200:
                return process
        time.sleep(0.3)
    stop_gunicorn(process)
    raise RuntimeError(f"gunicorn did not answer /healthz within 60 s; see {log}")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class MemorySampler(threading.Thread):
    """Sum of VmRSS of the gunicorn master and its workers, from /proc, every 0.25 s;
    the peak is kept per label (the endpoint being measured) and overall."""

    def __init__(self, master: int):
        super().__init__(daemon=True)
        self.master = master
        self.label = None
        self.peaks = collections.defaultdict(int)
        self.stopped = threading.Event()

    def processes(self) -> list[int]:
        pids = [self.master]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    # The field after the parenthesised command name is the state, then ppid.
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.master:
                        pids.append(int(entry.name))
        return pids

    def rss(self) -> int:
        total = 0
        for pid in self.processes():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            rss = self.rss()
            self.peaks["all"] = max(self.peaks["all"], rss)
            if self.label:
                self.peaks[self.label] = max(self.peaks[self.label], rss)


# Setup inside Django (child processes) ----------------------------------------------------


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare(sessions: int) -> dict:
    """A superuser with `sessions` logged-in sessions, and the ids the endpoints use."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.db import connection
    from django.db.models import Max, Min

    from heroes.models import Hero, Team

    user = get_user_model().objects.create_superuser("bench", "", None)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for _ in range(sessions):
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    heroes = Hero.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    teams = Team.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    with connection.cursor() as cursor:
        # The team with the most members; a hero with many memberships mid-table.
        cursor.execute(
            "SELECT team_id FROM heroteamlink GROUP BY team_id ORDER BY COUNT(*) DESC LIMIT 1"
        )
        (big_team,) = cursor.fetchone()
        middle = (heroes["lo"] + heroes["hi"]) // 2
        cursor.execute(
            "SELECT hero_id FROM heroteamlink WHERE hero_id BETWEEN %s AND %s"
            " GROUP BY hero_id ORDER BY COUNT(*) DESC, hero_id LIMIT 1",
            [middle, middle + 1000],
        )
        (busy_hero,) = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM heroteamlink WHERE team_id = %s", [big_team])
        (big_team_members,) = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM heroteamlink WHERE hero_id = %s", [busy_hero])
        (busy_hero_teams,) = cursor.fetchone()
    deep_after = heroes["lo"] + (heroes["hi"] - heroes["lo"]) * 9 // 10
    return {
        "sessions": keys,
        "hero_lo": heroes["lo"],
        "hero_hi": heroes["hi"],
        "team_lo": teams["lo"],
        "team_hi": teams["hi"],
        "big_team": big_team,
        "big_team_members": big_team_members,
        "busy_hero": busy_hero,
        "busy_hero_teams": busy_hero_teams,
        "deep_after": deep_after,
        # The seed's ids are consecutive: page 5,000 of 50 starts after this one (or the
        # deep page's, with fewer heroes).
        "page_n_after": min(heroes["lo"] - 1 + 4999 * HEROES_PER_PAGE, deep_after),
    }


def count_queries(plan: dict) -> dict:
    """Per URL, through Django's test client in this process, one request at a time: the
    statements of a request, counted by the project's `heroes.sql.capture()` (BEGIN/COMMIT/
    SAVEPOINT left out; a POST: its join / its leave), and the medians of the time in the
    database (the statements' durations) and of the whole request, once warm."""
    from django.conf import settings
    from django.test import Client

    from heroes import sql

    control = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies[settings.SESSION_COOKIE_NAME] = plan["session"]
    client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
    measured = {}
    for name, url, posts in plan["urls"]:
        counts, sql_ms, wall_ms = [], [], []
        for attempt in range(IN_PROCESS_RUNS + 1):  # the first one warms up
            counts = []
            for body in posts or [None]:
                with sql.capture() as statements:
                    started = time.perf_counter()
                    if body is None:
                        response = client.get(url)
                    else:
                        response = client.post(url, {**body, "csrfmiddlewaretoken": CSRF_SECRET})
                    wall = time.perf_counter() - started
                expected = 200 if body is None else 302
                if response.status_code != expected:
                    raise RuntimeError(f"{url}: {response.status_code}, expected {expected}")
                counts.append(sum(1 for s in statements if s.verb not in control))
                if attempt:
                    wall_ms.append(wall * 1000)
                    sql_ms.append(sum(s.duration for s in statements) * 1000)
        measured[name] = {
            "queries": "/".join(map(str, counts)),
            "sql_ms": statistics.median(sql_ms),
            "wall_ms": statistics.median(wall_ms),
        }
    return measured


def child(command: str, argument: str) -> None:
    django_setup()
    if command == "prepare":
        print(json.dumps(prepare(int(argument))))
    elif command == "count":
        print(json.dumps(count_queries(json.loads(argument))))
    elif command == "changes":
        from heroes.models import ChangeSet

        print(json.dumps(ChangeSet.objects.count()))


def run_child(env: dict, command: str, argument: str = "") -> object:
    result = subprocess.run(
        [sys.executable, __file__, "--child", command, argument],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


# Load ------------------------------------------------------------------------------------


class Endpoint:
    """A page (or POST) and its floor: both measured, in alternating rounds."""

    def __init__(self, name, page, floor, *, mode="get", posts=None, baseline=None):
        self.name, self.page, self.floor, self.mode, self.posts = name, page, floor, mode, posts
        # A GET's target: its p50 within PAGE_RATIO_TARGET of its floor's, or, with a
        # `baseline` (another page of the app in the floor's place), within DEEP_TARGET.
        self.baseline = baseline
        self.runs = {"page": [], "floor": []}


def endpoints(info: dict) -> list[Endpoint]:
    hero, team, after = info["busy_hero"], info["big_team"], info["deep_after"]
    page_n_after = info["page_n_after"]
    # A pair the seed left alone (random pairs of the load almost never are members).
    sample = {"team": info["team_lo"], "hero": info["hero_lo"]}
    join, leave = {**sample, "action": "join"}, {**sample, "action": "leave"}
    hero_post = f"heroes/{sample['hero']}/memberships/"
    return [
        # POSTs first, so that the pages after them show some history, as in real use.
        Endpoint(
            "POST /heroes/<id>/memberships/",
            "/" + hero_post,
            FLOOR + hero_post,
            mode="post-hero",
            posts=[join, leave],
        ),
        Endpoint(
            "POST /memberships/toggle/",
            "/memberships/toggle/",
            FLOOR + "memberships/toggle/",
            mode="post-toggle",
            posts=[join, leave],
        ),
        Endpoint("GET /heroes/", "/heroes/", FLOOR + "heroes/"),
        Endpoint(
            f"GET /heroes/?after={after}",
            f"/heroes/?after={after}",
            f"{FLOOR}heroes/?after={after}",
        ),
        # Page 5,000 of the hero list against page 1 of it (in the floor's place).
        Endpoint(
            f"GET /heroes/ page {(page_n_after - info['hero_lo'] + 1) // HEROES_PER_PAGE + 1:,}",
            f"/heroes/?after={page_n_after}",
            "/heroes/",
            baseline="page 1",
        ),
        Endpoint(f"GET /heroes/{hero}/", f"/heroes/{hero}/", f"{FLOOR}heroes/{hero}/"),
        Endpoint(f"GET /teams/{team}/", f"/teams/{team}/", f"{FLOOR}teams/{team}/"),
        Endpoint("GET /memberships/", "/memberships/", FLOOR + "memberships/"),
    ]


def check_once(port: int, url: str, session: str, post: dict | None) -> None:
    """One request by hand before the load: a GET must answer 200, a POST 302 (not to login)."""
    headers = {"Cookie": f"sessionid={session}; csrftoken={CSRF_SECRET}"}
    data = None
    if post is not None:
        data = urllib.parse.urlencode({**post, "csrfmiddlewaretoken": CSRF_SECRET}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{url}", data, headers)
    try:
        with opener.open(request, timeout=60) as answer:
            status, location = answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        status, location = exc.code, exc.headers.get("Location", "")
    expected = 200 if post is None else 302
    if status != expected or "/accounts/login/" in location:
        raise RuntimeError(f"{url}: {status} {location}, expected {expected}")


def wrk_round(port, endpoint, variant, seconds, connections, info, round_no, workdir) -> dict:
    """One wrk run of `seconds` on the page or the floor; its counts and latency histogram."""
    out = workdir / f"wrk-{round_no}.txt"
    url = getattr(endpoint, variant)
    prefix = "/" if variant == "page" else FLOOR
    args = [
        str(out),
        endpoint.mode,
        CSRF_SECRET,
        str(round_no),
        *(str(info[key]) for key in ("hero_lo", "hero_hi", "team_lo", "team_hi")),
        prefix,
        ",".join(info["sessions"]),
    ]
    command = [
        "wrk",
        f"--threads={connections}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={workdir / 'load.lua'}",
        f"http://127.0.0.1:{port}{url}",
        "--",
        *args,
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    run = {"quantiles": []}
    for line in out.read_text().splitlines():
        key, *values = line.split()
        if key == "statuses":
            run["statuses"] = [int(v) for v in values]
        elif values:
            run[key] = int(values[0])
        else:
            run["quantiles"].append(int(key))
    return run


def rounds_of(args) -> tuple[int, int]:
    """How many alternating rounds, of how many whole seconds (wrk's unit), per page."""
    rounds = max(1, round(args.duration / args.round))
    return rounds, max(1, round(args.duration / rounds))


def percentile(runs: list[dict], fraction: float) -> float:
    """The latency (ms) under which `fraction` of the requests of `runs` finished: each
    run's quantiles stand for an equal share of its requests."""
    points = sorted(
        (us, run["requests"] / len(run["quantiles"])) for run in runs for us in run["quantiles"]
    )
    total = sum(weight for _, weight in points)
    if not total:
        return float("nan")
    seen = 0.0
    for us, weight in points:
        seen += weight
        if seen >= fraction * total - 1e-9:
            return us / 1000
    return points[-1][0] / 1000


def summarise(endpoint: Endpoint, variant: str) -> dict:
    runs = endpoint.runs[variant]
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["duration_us"] for run in runs) / 1e6
    statuses = [sum(column) for column in zip(*(run["statuses"] for run in runs), strict=True)]
    expected = 1 if endpoint.mode == "get" else 2  # 2xx for GET, 3xx for POST
    unexpected = sum(n for i, n in enumerate(statuses) if i != expected)
    errors = unexpected + sum(run["socket_errors"] + run["timeouts"] for run in runs)
    return {
        "p50": percentile(runs, 0.50),
        "p95": percentile(runs, 0.95),
        "p99": percentile(runs, 0.99),
        "rps": requests / seconds if seconds else 0.0,
        "requests": requests,
        "errors": errors,
    }


# One backend -----------------------------------------------------------------------------


def run_backend(database: str, args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"heroes-load-{database}-"))
    (workdir / "load.lua").write_text(WRK_SCRIPT.replace("@QUANTILES@", str(QUANTILES)))
    if database == "sqlite":
        database_url = f"sqlite:///{workdir / 'load.sqlite3'}"
    else:
        drop = f"DROP DATABASE IF EXISTS {POSTGRES_DB}"
        subprocess.run([*PSQL, "-c", drop, "-c", f"CREATE DATABASE {POSTGRES_DB}"], check=True)
        database_url = POSTGRES_URL
    env = base_env(database_url, workdir / "static")
    if args.conn_max_age is not None:
        env["DJANGO_CONN_MAX_AGE"] = args.conn_max_age
    result = {"database": database, "load_before": load_average()}
    process = None
    try:
        print(f"\n[{database}] migrate, seed {args.heroes:,} heroes, {args.teams:,} teams...")
        manage(env, "migrate", "--no-input", "--verbosity", "0")
        started = time.perf_counter()
        manage(
            env,
            "seed_heroes",
            f"--heroes={args.heroes}",
            f"--teams={args.teams}",
            f"--links={args.links}",
            "--seed=1",
            stdout=subprocess.DEVNULL,
        )
        result["seed_seconds"] = time.perf_counter() - started
        if database == "postgres":
            # What autovacuum would have done by the time anyone browses the data.
            subprocess.run([*PSQL, "-d", POSTGRES_DB, "-c", "VACUUM ANALYZE"], check=True)
        info = run_child(env, "prepare", str(args.connections + 1))
        info["sessions"], count_session = info["sessions"][:-1], info["sessions"][-1]
        result["info"] = info
        manage(env, "collectstatic", "--no-input", "--verbosity", "0")

        port = free_port()
        log = workdir / "gunicorn.log"
        process = start_gunicorn(env, port, args.workers, log)
        result["load_start"] = load_average()
        points = endpoints(info)
        for endpoint in points:  # Fail early: wrong status, login redirects, broken floors.
            for url in (endpoint.page, endpoint.floor):
                for body in endpoint.posts or [None]:
                    check_once(port, url, info["sessions"][0], body)
        plan = {
            "session": count_session,
            "urls": [
                [f"{e.name} {variant}", getattr(e, variant), e.posts]
                for e in points
                for variant in ("page", "floor")
            ],
        }
        queries = run_child({**env, "DJANGO_ROOT_URLCONF": "bench.urls"}, "count", json.dumps(plan))

        sampler = MemorySampler(process.pid)
        sampler.start()
        rounds, seconds = rounds_of(args)
        round_no = 0
        changes_before = None
        for endpoint in points:
            print(f"[{database}] {endpoint.name}: {rounds} rounds of {seconds:g} s, page and floor")
            if endpoint.mode != "get" and changes_before is None:
                changes_before = run_child(env, "changes")
            for _ in range(rounds):
                for variant in ("page", "floor"):
                    round_no += 1
                    sampler.label = f"{endpoint.name} {variant}"
                    endpoint.runs[variant].append(
                        wrk_round(
                            port,
                            endpoint,
                            variant,
                            seconds,
                            args.connections,
                            info,
                            round_no,
                            workdir,
                        )
                    )
            sampler.label = None
            if endpoint.mode != "get":
                result.setdefault("posts", 0)
                result["posts"] += sum(run["requests"] for run in endpoint.runs["page"])
        result["changes"] = run_child(env, "changes") - (changes_before or 0)
        sampler.stopped.set()
        result["load_end"] = load_average()
        result["peak_rss"] = sampler.peaks["all"]
        booted = log.read_text().count("Booting worker")
        result["worker_restarts"] = max(0, booted - args.workers)
        rows = []
        for endpoint in points:
            page, floor = summarise(endpoint, "page"), summarise(endpoint, "floor")
            rows.append(
                {
                    "endpoint": endpoint.name,
                    "mode": endpoint.mode,
                    "baseline": endpoint.baseline,
                    "queries": queries[f"{endpoint.name} page"],
                    "floor_queries": queries[f"{endpoint.name} floor"],
                    "page": page,
                    "floor": floor,
                    "ratio": page["p50"] / floor["p50"],
                    "peak_rss": sampler.peaks[f"{endpoint.name} page"],
                }
            )
        result["rows"] = rows
        return result
    finally:
        if process is not None:
            stop_gunicorn(process)
        if database == "postgres":
            subprocess.run([*PSQL, "-c", f"DROP DATABASE IF EXISTS {POSTGRES_DB}"], check=False)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"[{database}] kept {workdir}")


# Report ----------------------------------------------------------------------------------


def target(row: dict) -> tuple[str, bool]:
    errors = row["page"]["errors"] + row["floor"]["errors"]
    if row["mode"] == "get" and row.get("baseline"):
        met = row["ratio"] <= DEEP_TARGET and not errors
        text = f"p50 <= {DEEP_TARGET:g}x {row['baseline']}"
    elif row["mode"] == "get":
        met = row["ratio"] <= PAGE_RATIO_TARGET and not errors
        text = f"p50 <= {PAGE_RATIO_TARGET:g}x floor"
    else:
        met = row["page"]["p50"] < POST_P50_TARGET_MS and not errors
        text = f"p50 < {POST_P50_TARGET_MS:g} ms"
    return f"{'met' if met else 'NOT MET'} ({text}{', errors' if errors else ''})", met


def table(result: dict) -> list[str]:
    head = (
        "| endpoint | queries page / floor | alone ms (SQL ms) page / floor "
        "| p50 ms page / floor | ratio | p95 ms page / floor "
        "| p99 ms page / floor | req/s page / floor | errors page / floor | peak RSS MB | target |"
    )
    lines = [head, "|" + " --- |" * 11]
    for row in result["rows"]:
        page, floor = row["page"], row["floor"]
        alone, floor_alone = row["queries"], row["floor_queries"]
        lines.append(
            f"| `{row['endpoint']}` | {alone['queries']} / {floor_alone['queries']} "
            f"| {alone['wall_ms']:.1f} ({alone['sql_ms']:.1f}) "
            f"/ {floor_alone['wall_ms']:.1f} ({floor_alone['sql_ms']:.1f}) "
            f"| {page['p50']:.1f} / {floor['p50']:.1f} | {row['ratio']:.2f}x "
            f"| {page['p95']:.1f} / {floor['p95']:.1f} | {page['p99']:.1f} / {floor['p99']:.1f} "
            f"| {page['rps']:.0f} / {floor['rps']:.0f} | {page['errors']} / {floor['errors']} "
            f"| {row['peak_rss'] / 2**20:.0f} | {target(row)[0]} |"
        )
    return lines


def notes(result: dict, args) -> list[str]:
    info = result["info"]
    return [
        f"- Data: {args.heroes:,} heroes, {args.teams:,} teams, {args.links:,} memberships "
        f"(`seed_heroes --seed 1`, {result['seed_seconds']:.0f} s"
        + (", then `VACUUM ANALYZE`" if result["database"] == "postgres" else "")
        + f"). Hero page: hero {info['busy_hero']} ({info['busy_hero_teams']} memberships); "
        f"team page: team {info['big_team']}, the biggest ({info['big_team_members']:,} "
        f"members); deep page: after hero {info['deep_after']:,}.",
        f"- POSTs answered within the rounds: {result.get('posts', 0):,}; change sets "
        f"recorded meanwhile: {result['changes']:,} (one per POST that changed data; the "
        "requests still in flight when a round ended are in the second figure only).",
        f"- Peak RSS of gunicorn (master + {args.workers} workers), whole run: "
        f"{result['peak_rss'] / 2**20:.0f} MB; workers recycled by `max_requests`: "
        f"{result['worker_restarts']}.",
        f"- Load average (1, 5, 15 min): {result['load_before']} before seeding, "
        f"{result['load_start']} at the start of the load, {result['load_end']} at the end.",
    ]


def report(results: list[dict], args, host: dict) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    out = [
        "# Load benchmark results",
        "",
        f"`bench/load.py --database {args.database} --heroes {args.heroes} --teams {args.teams} "
        f"--links {args.links} --duration {args.duration:g}`, {now}, commit `{commit}`"
        + (" with uncommitted changes in the tree" if dirty else "")
        + ". See bench/README.md for the method.",
        "",
        f"gunicorn (`gunicorn.conf.py`): {args.workers} workers x 2 threads, production "
        f"settings (DJANGO_CONN_MAX_AGE {args.conn_max_age or 'unset: 60, from gunicorn.conf.py'}),"
        " loopback. "
        f"wrk: {args.connections} connections (a thread each), "
        f"{args.duration:g} s per page and as long on its floor, in alternating rounds of "
        f"{rounds_of(args)[1]} s. Latencies in ms; "
        "ratio = page p50 / floor p50 (for page 5,000 of the hero list, page 1 takes "
        "the floor's place). Queries: SQL statements per request (a POST: its join / "
        "its leave), BEGIN/COMMIT not counted. Alone: the median time of one request at a "
        f"time ({IN_PROCESS_RUNS} runs, in a process of its own through Django's test client, "
        "no load), and of its SQL in brackets. Peak RSS: gunicorn master + workers while "
        "that page ran.",
        "",
        "Machine: " + "; ".join(f"{key} {value}" for key, value in host.items()) + ".",
    ]
    for result in results:
        out += ["", f"## {result['database']}", "", *table(result), "", *notes(result, args)]
    met = all(target(row)[1] for result in results for row in result["rows"])
    out += [
        "",
        "## Targets",
        "",
        f"Page p50 within {PAGE_RATIO_TARGET:g}x of its floor; page 5,000 of the hero list "
        f"within {DEEP_TARGET:g}x of page 1; join/leave POST p50 under "
        f"{POST_P50_TARGET_MS:g} ms; zero errors: "
        + ("all met." if met else "not all met (see the target column)."),
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--heroes", type=int, default=1_000_000)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument("--links", type=int, default=3_000_000)
    parser.add_argument(
        "--duration", type=float, default=20, help="Seconds per page, and as many on its floor."
    )
    parser.add_argument("--round", type=float, default=2, help="Seconds per alternating round.")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--workers",
        type=int,
        default=multiprocessing.cpu_count() * 2 + 1,
        help="WEB_CONCURRENCY (default: gunicorn.conf.py's, two per core plus one).",
    )
    parser.add_argument(
        "--conn-max-age",
        help="DJANGO_CONN_MAX_AGE for the server (default: gunicorn.conf.py's 60).",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="Markdown report to write.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    ensure_wrk()
    host = machine()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results = []
    for database in databases:
        results.append(run_backend(database, args))
        # Written after each backend, so that a failure later keeps what was measured.
        text = report(results, args, host)
        args.output.write_text(text)
    print("\n" + text)
    print(f"Written to {args.output}")


if __name__ == "__main__":
    main()
