"""Generate a large, realistic set of teams, heroes and memberships, fast, in batches."""

import contextlib
import functools
import importlib
import itertools
import math
import operator
import random
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.utils.translation import ngettext
from faker.providers.person.en_US import Provider as People

from .models import Hero, HeroTeamLink, Team
from .seed import TUTORIAL_TEAMS, _reset_sequences

# The migration that counts heroes per block of ids: its FILL statement counts them all.
ID_BLOCKS = importlib.import_module("heroes.migrations.0008_hero_id_blocks")
ID_BLOCK_TRIGGER = "hero_id_block_insert"
# Heroes per batch; each batch is one INSERT (or COPY) of heroes and one of their links.
BATCH = 20_000
# Slots in the tables that weighted draws are made from.
TABLE = 1 << 16
# Shares of heroes without a team, of heroes whose team is one of their memberships,
# and of memberships in training.
NO_TEAM = 0.15
OWN_TEAM = 0.85
TRAINING = 0.12
# Memberships start in these five years; fixed, so that a seed gives the same data.
LINKS_SINCE = datetime(2021, 1, 1, tzinfo=UTC)
LINKS_DAYS = 5 * 365


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


HERO_WORDS = _words("""
    Spider Rusty Iron Night Storm Shadow Thunder Silver Golden Crimson Scarlet Steel Atomic
    Cosmic Quantum Solar Lunar Star Dark Bright Frost Fire Flame Ember Blaze Ice Stone Rock
    Sand Dust Ash Smoke Mist Rain Wind Sky Cloud Wave Tide River Ocean Jungle Desert Arctic
    Electric Magnetic Sonic Hyper Ultra Mega Turbo Rocket Laser Plasma Neon Chrome Copper
    Bronze Titanium Diamond Glass Paper Rubber Velvet Ghost Phantom Wild Swift Silent Mighty
    Tiny Giant Bat Cat Wolf Fox Hawk Owl Raven Bee Wasp Ant Spark Volt Bolt Nova Comet Meteor
    Pixel Echo Dead Mad Lucky Brave Bold Grim
""")
HERO_ENDINGS = _words("""
    Man Woman Boy Girl Kid Lad Lass Knight Fist Blade Hawk Wolf Hound Claw Fang Wing Shield
    Hammer Arrow Bolt Strike Storm Spark Guard Ranger Master Queen King
""")
HERO_TITLES = _words("Captain Doctor Mister Miss Lady Lord Professor Agent Major Commander")
HERO_COMPOUNDS = _words("pond bane fang strike fire shade wing born heart storm jack bolt")

TEAM_WORDS = _words("""
    Iron Night Storm Shadow Thunder Silver Golden Crimson Steel Atomic Cosmic Quantum Solar
    Lunar Star Dark Frost Fire Stone Sky Ocean Jungle Arctic Electric Sonic Hyper Omega Alpha
    Delta Gamma Sigma Vector Justice Liberty Freedom Guardian Vanguard Rebel Phoenix Dragon
    Titan Eagle Falcon Tiger Lion Viper Cobra Panther Shark Mighty Secret Fantastic Uncanny
    Astonishing Invincible Infinite Eternal Midnight Twilight Dawn
""")
TEAM_NOUNS = _words("""
    Force Squad League Legion Alliance Brigade Corps Guard Patrol Society Syndicate Order
    Union Crew Division Unit Battalion Collective Council Circle Initiative Agency Knights
    Rangers Sentinels Defenders Avengers Protectors Preventers Wardens
""")

HQ_BUILDINGS = _words("""
    Tower Bar Diner Lair Base Bunker Mansion Manor Observatory Lighthouse Warehouse Garage
    Academy Station Fortress Citadel Loft Hideout Arena Gym Library Museum Dojo Hangar
    Laboratory Cathedral Castle Keep Sanctum Hall Pub Tavern Workshop
""")
HQ_OWNERS = _words("Sister Brother Uncle Aunt Old Father Mother Doc Captain Professor")
HQ_ADJECTIVES = _words("Old Hidden Sunken Floating Abandoned Secret Crystal Grand Forgotten")
# Faker's en_US city parts.
CITY_PREFIXES = _words("North East West South New Lake Port")
CITY_SUFFIXES = _words("""
    town ton land ville berg burgh borough bury view port mouth stad furt chester fort haven
    side shire
""")


def generate(
    *,
    heroes: int,
    teams: int,
    links: int,
    seed: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict:
    """Add `teams` teams, `heroes` heroes and `links` memberships of those to the database.

    Everything is written in one transaction, in batches, without model instances: all or
    nothing. Team names are unique, including against the teams already there; links are
    unique per hero and team. Team sizes and popularity are skewed (a few big teams, many
    small), some heroes have no team and no age. The same `seed` on the same database gives
    the same data. `progress(n)` is called with the number of rows each batch wrote.
    Raises ValueError, writing nothing, if the numbers cannot be met.

    When it adds at least as many rows as there are, the plain indexes (and on PostgreSQL
    the foreign keys) are dropped during the load and built again at the end. On
    PostgreSQL the tables are locked against other writers until the transaction ends.
    """
    check(heroes=heroes, teams=teams, links=links)
    rng = random.Random(seed)  # noqa: S311 -- reproducible test data, not secrets
    report = progress or (lambda n: None)
    with transaction.atomic(), _bulk_load(heroes + links) as write:
        team_start = _next_id(Team)
        hero_start = _next_id(Hero)
        # Not the tutorial's team names either, so that it can still be loaded by name.
        taken = {team["name"] for team in TUTORIAL_TEAMS}
        taken.update(Team.objects.order_by().values_list("name", flat=True).iterator())
        team_ids = range(team_start, team_start + teams)
        rows = zip(team_ids, _team_names(rng, teams, taken), _headquarters(rng), strict=False)
        while batch := list(itertools.islice(rows, BATCH)):
            write(Team, ("id", "name", "headquarters"), batch)
            report(len(batch))
        for hero_rows, link_rows in _heroes_and_links(rng, hero_start, heroes, team_ids, links):
            write(Hero, ("id", "name", "secret_name", "age", "team_id"), hero_rows)
            report(len(hero_rows))
            if link_rows:
                write(HeroTeamLink, ("hero_id", "team_id", "is_training", "created_at"), link_rows)
                report(len(link_rows))
        _reset_sequences()
    return {"teams": teams, "heroes": heroes, "links": links}


def check(*, heroes: int, teams: int, links: int) -> None:
    """Raise ValueError with a message for people if the numbers cannot be generated."""
    if min(heroes, teams, links) < 0:
        raise ValueError("The numbers of heroes, teams and links cannot be negative.")
    if links and not (heroes and teams):
        raise ValueError("Links need at least one hero and one team.")
    if links > heroes * teams:
        raise ValueError(
            f"{_count(heroes, 'hero', 'heroes')} and {_count(teams, 'team', 'teams')} allow "
            f"at most {_count(heroes * teams, 'link', 'links')}, not {links:,}."
        )


def describe(*, heroes: int, teams: int, links: int) -> str:
    """`10 teams, 200 heroes and 500 memberships`."""
    return (
        f"{_count(teams, 'team', 'teams')}, {_count(heroes, 'hero', 'heroes')} and "
        f"{_count(links, 'membership', 'memberships')}"
    )


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number:,} {ngettext(singular, plural, number)}"


def _next_id(model) -> int:
    return (model.objects.aggregate(top=Max("pk"))["top"] or 0) + 1


@contextlib.contextmanager
def _bulk_load(rows: int) -> Iterator[Callable]:
    """Yield `write(model, columns, rows)`: COPY on PostgreSQL, executemany on SQLite.

    Must run inside a transaction, which a failure rolls back whole, indexes included.
    On PostgreSQL the three tables stay locked against other writers until it ends.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Nobody else may take the ids counted from MAX(id) before we commit.
            qn = connection.ops.quote_name
            tables = ", ".join(qn(model._meta.db_table) for model in (Team, Hero, HeroTeamLink))
            cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")
            # Server memory to build the indexes again; for this transaction only.
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            write = functools.partial(_copy, cursor)
        else:
            write = functools.partial(_insert, cursor)
        # Building an index once from all its rows beats updating it row by row (hero
        # names arrive in random order), unless the tables already hold more rows.
        rebuild = rows >= Hero.objects.count() + HeroTeamLink.objects.count()
        with contextlib.ExitStack() as stack:
            if rebuild:
                stack.enter_context(_without_indexes(cursor))
                if connection.vendor == "sqlite":
                    stack.enter_context(_id_blocks_counted_at_the_end(cursor))
            yield write


@contextlib.contextmanager
def _id_blocks_counted_at_the_end(cursor) -> Iterator[None]:
    """On SQLite, count the heroes per block of ids (migration 0008) once, after the load,
    instead of by its row trigger, an upsert per hero (a third of a million-hero load)."""
    cursor.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s", [ID_BLOCK_TRIGGER]
    )
    found = cursor.fetchone()
    if found is None:  # not migrated that far
        yield
        return
    cursor.execute(f"DROP TRIGGER {ID_BLOCK_TRIGGER}")
    yield
    cursor.execute("DELETE FROM hero_id_block")
    cursor.execute(ID_BLOCKS.FILL, params=None)
    cursor.execute(found[0])


@contextlib.contextmanager
def _without_indexes(cursor) -> Iterator[None]:
    """Drop the plain indexes of `hero` and `heroteamlink`, then create them again as they
    were; on PostgreSQL their foreign keys too, which are checked again when added back.

    Primary keys and unique constraints stay: every link is still checked as it comes.
    """
    tables = [Hero._meta.db_table, HeroTeamLink._meta.db_table]
    qn = connection.ops.quote_name
    drop, create = [], []
    if connection.vendor == "sqlite":
        cursor.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (%s, %s)",
            tables,
        )
        for name, sql in cursor.fetchall():
            drop.append(f"DROP INDEX {qn(name)}")
            create.append(sql)
    elif connection.vendor == "postgresql":
        # Run the foreign key checks still deferred in this transaction (rows deleted or
        # added before us): PostgreSQL alters no table with checks pending.
        connection.check_constraints()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = ANY(%s::regclass[]) AND NOT indisunique",
            [tables],
        )
        for name, sql in cursor.fetchall():
            drop.append(f"DROP INDEX {name}")
            create.append(sql)
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype = 'f'",
            [tables],
        )
        for table, name, definition in cursor.fetchall():
            drop.append(f"ALTER TABLE {table} DROP CONSTRAINT {qn(name)}")
            create.append(f"ALTER TABLE {table} ADD CONSTRAINT {qn(name)} {definition}")
    for statement in drop:
        cursor.execute(statement)
    yield
    for statement in create:
        cursor.execute(statement)


def _insert(cursor, model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    qn = connection.ops.quote_name
    # Only quoted identifiers go into the statement; values are parameters.
    cursor.executemany(
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(map(qn, columns))}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))})",
        rows,
    )


def _copy(cursor, model, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    qn = connection.ops.quote_name
    statement = f"COPY {qn(model._meta.db_table)} ({', '.join(map(qn, columns))}) FROM STDIN"
    with cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _heroes_and_links(
    rng: random.Random, start: int, heroes: int, team_ids: range, links: int
) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Yield (hero rows, link rows) batches; links in (hero, team) order, unique per pair.

    Whole batches are drawn at once, in C loops (map, zip, sort) rather than a Python
    loop per row: each batch gets its exact share of the links, spread over its heroes,
    then teams by popularity.
    """
    draw_team = _sampler(rng, _popularity(rng, team_ids))
    draw_count = _sampler(rng, _membership_counts(links / heroes if heroes else 0, len(team_ids)))
    draw_name = _sampler(rng, _hero_names())
    draw_first = _sampler(rng, _table({**People.first_names_female, **People.first_names_male}))
    draw_last = _sampler(rng, _table(People.last_names))
    draw_age = _sampler(rng, _ages())
    draw_training = _sampler(rng, _table({True: TRAINING, False: 1 - TRAINING}))
    draw_start = _sampler(rng, _timestamps(rng, with_zone=connection.vendor == "postgresql"))
    random_, span, repeat = rng.random, team_ids.stop, itertools.repeat
    for done in range(0, heroes, BATCH):
        size = min(BATCH, heroes - done)
        hero_ids = range(start + done, start + done + size)
        # Integer shares, so that the batches add up to exactly `links`.
        share = links * (done + size) // heroes - links * done // heroes
        counts = _fit(rng, draw_count(size), share, len(team_ids))
        picks, pairs = _links(rng, hero_ids, counts, team_ids, draw_team)
        # Mostly a hero's team is its first membership, as in the tutorial; else one by
        # popularity, or none.
        hero_teams = [None] * size
        if team_ids:
            first = [
                picks[at] if n else None for at, n in zip(_starts(counts), counts, strict=True)
            ]
            hero_teams = [
                None
                if chance < NO_TEAM
                else mine
                if mine is not None and chance < OWN_TEAM
                else other
                for chance, mine, other in zip(
                    [random_() for _ in hero_ids], first, draw_team(size), strict=True
                )
            ]
        secret_names = map("{} {}".format, draw_first(size), draw_last(size))
        hero_rows = list(
            zip(hero_ids, draw_name(size), secret_names, draw_age(size), hero_teams, strict=True)
        )
        link_rows = list(
            zip(
                map(operator.floordiv, pairs, repeat(span)),
                map(operator.mod, pairs, repeat(span)),
                draw_training(len(pairs)),
                draw_start(len(pairs)),
                strict=False,  # the maps are as long as `pairs`
            )
        )
        yield hero_rows, link_rows


def _fit(rng: random.Random, counts: list[int], total: int, most: int) -> list[int]:
    """Change `counts` by one here and there, at random, until they sum to `total`, none
    above `most` (possible when `total <= len(counts) * most`)."""
    counts = [min(count, most) for count in counts]
    while missing := total - sum(counts):
        step = 1 if missing > 0 else -1
        room = [i for i, count in enumerate(counts) if (count < most if step > 0 else count)]
        for i in rng.sample(room, min(abs(missing), len(room))):
            counts[i] += step
    return counts


def _links(
    rng: random.Random,
    hero_ids: range,
    counts: list[int],
    team_ids: range,
    draw_team: Callable[[int], list[int]],
) -> tuple[list[int], list[int]]:
    """Draw `counts[i]` distinct teams for each hero; return the draws in hero order, and
    the pairs, sorted, as integers `hero * span + team` (span: any number above every
    team id), so that sets and sorts run in C."""
    teams = len(team_ids)
    if not any(counts):
        return [], []
    if max(counts) * 4 <= teams:
        picks = draw_team(sum(counts))
    else:
        # Heroes in most teams: popularity draws would mostly repeat; sample uniformly.
        picks = []
        for count in counts:
            picks += rng.sample(team_ids, count) if count * 4 > teams else draw_team(count)
    span, repeat = team_ids.stop, itertools.repeat
    heroes = itertools.chain.from_iterable(map(repeat, hero_ids, counts))
    pairs = list(map(operator.add, map(operator.mul, heroes, repeat(span)), picks))
    pairs.sort()
    # A popular team drawn twice for the same hero: equal neighbours once sorted.
    repeated = list(
        itertools.compress(
            itertools.islice(pairs, 1, None),
            map(operator.eq, pairs, itertools.islice(pairs, 1, None)),
        )
    )
    if not repeated:
        return picks, pairs
    unique = dict.fromkeys(pairs)  # in order
    for pair in repeated:
        # Draw again for the same hero until the team is new to it.
        hero = pair - pair % span
        while (pair := hero + draw_team(1)[0]) in unique:
            pass
        unique[pair] = None
    # Sorted but for the new pairs at the end, which the sort merges in.
    return picks, sorted(unique)


def _starts(counts: list[int]) -> Iterator[int]:
    """Where each hero's draws start in the batch's list of draws."""
    return itertools.accumulate(counts[:-1], initial=0)


def _sampler(rng: random.Random, table: list) -> Callable[[int], list]:
    """`draw(k)`: k items of `table`, drawn uniformly."""
    return lambda k: rng.choices(table, k=k)


def _popularity(rng: random.Random, team_ids: range) -> list[int]:
    """The teams as a table to draw from uniformly: the n-th most popular ~1/n as often."""
    ranked = list(team_ids)
    if not ranked:
        return []
    rng.shuffle(ranked)
    return _table(
        {team: 1 / rank for rank, team in enumerate(ranked, 1)}, size=max(TABLE, 16 * len(ranked))
    )


def _membership_counts(mean: float, most: int) -> list[int]:
    """A table of how many teams a hero joins: an exponential of `mean`, rounded, at most
    `most`: for a mean of 3, 15% of heroes in no team, 24% in one, 1.5% in more than 12."""
    if not mean:
        return [0]
    weights = {}
    for count in range(most + 1):
        tail = math.exp(-max(count - 0.5, 0) / mean)  # P(count or more)
        if count == most or tail * TABLE < 1:
            weights[count] = tail
            break
        weights[count] = tail - math.exp(-(count + 0.5) / mean)
    return _table(weights)


def _table(weights: dict, size: int = TABLE) -> list:
    """Each key repeated in proportion to its weight, at least once, in about `size` slots.

    Uniform draws from the table follow the weights, several times faster than drawing with
    `cum_weights` (a bisection per draw).
    """
    scale = size / sum(weights.values())
    return [key for key, weight in weights.items() for _ in range(max(1, round(weight * scale)))]


def _ages() -> list[int | None]:
    """Ages 16 to 90, most between 20 and 50; a fifth of heroes do not tell."""
    weights = {age: (age - 15) * math.exp(-(age - 15) / 12) for age in range(16, 91)}
    return _table({None: sum(weights.values()) / 4, **weights})


def _hero_names() -> list[str]:
    """Names like Spider-Boy, Rusty-Man, Deadpond, Captain Frost: one pool, drawn uniformly."""
    names = [f"{word}-{ending}" for word in HERO_WORDS for ending in HERO_ENDINGS]
    names += [f"{word}{part}" for word in HERO_WORDS for part in HERO_COMPOUNDS]
    names += [f"{title} {word}" for title in HERO_TITLES for word in HERO_WORDS]
    names += [f"The {word} {ending}" for word in HERO_WORDS[::3] for ending in HERO_ENDINGS]
    return names


def _team_names(rng: random.Random, count: int, taken: set[str]) -> Iterator[str]:
    """`count` team names not in `taken` ("Iron Legion", "X-Force", "The Wardens", then
    "Iron Legion 2"...), adding each to `taken`."""
    bases = [f"{word} {noun}" for word in TEAM_WORDS for noun in TEAM_NOUNS]
    bases += [f"{letter}-{noun}" for letter in "ABCDGKMOQRSTVWXYZ" for noun in TEAM_NOUNS[:8]]
    bases += [f"The {noun}" for noun in TEAM_NOUNS]
    rng.shuffle(bases)
    made = 0
    for round_ in itertools.count(1):
        for base in bases:
            if made == count:
                return
            name = base if round_ == 1 else f"{base} {round_}"
            if name not in taken:
                taken.add(name)
                made += 1
                yield name


def _headquarters(rng: random.Random) -> Iterator[str]:
    """Endless places like "Sharp Tower", "Sister Margaret's Bar, Port Annaville"."""
    firsts = list(People.first_names_female) + list(People.first_names_male)
    lasts = list(People.last_names)
    towns = lasts + firsts
    choice = rng.choice
    while True:
        kind = rng.random()
        if kind < 0.4:
            place = f"{choice(lasts)} {choice(HQ_BUILDINGS)}"
        elif kind < 0.7:
            place = f"{choice(HQ_OWNERS)} {choice(firsts)}'s {choice(HQ_BUILDINGS)}"
        else:
            place = f"The {choice(HQ_ADJECTIVES)} {choice(HQ_BUILDINGS)}"
        if rng.random() < 0.5:
            prefix = f"{choice(CITY_PREFIXES)} " if rng.random() < 0.5 else ""
            place += f", {prefix}{choice(towns)}{choice(CITY_SUFFIXES)}"
        yield place


def _timestamps(rng: random.Random, *, with_zone: bool) -> list[str]:
    """4,096 membership start times in LINKS_SINCE's five years, as UTC text."""
    zone = "+00:00" if with_zone else ""
    return [
        (LINKS_SINCE + timedelta(seconds=rng.randrange(LINKS_DAYS * 86_400))).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        + zone
        for _ in range(4096)
    ]
