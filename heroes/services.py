"""Every write of a connection: a hero's team and team memberships, singly and in bulk.

Each function runs in one transaction (`sql.change()`), is idempotent where its name
allows, returns a `Result` that says what changed and carries the SQL it ran, and
raises `ServiceError` (with a message for people) when the change cannot be made, in
which case nothing was written.

Concurrency: membership changes of a team are serialised by a lock on the team's row
(`SELECT ... FOR NO KEY UPDATE` on PostgreSQL; on SQLite every writer already holds
the database's write lock from `BEGIN IMMEDIATE`), so a toggle always sees the state
the previous one left and N toggles flip a pair N times. A hero's team is changed
under a lock on the hero's row. A transaction that PostgreSQL aborts as a deadlock
or serialization failure is retried from the start.
"""

import functools
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connections
from django.db.models import BigIntegerField, BooleanField, Max, QuerySet, Value
from django.utils.translation import ngettext

from . import sql
from .models import Hero, HeroTeamLink, Team
from .sql import Statement

RETRIES = 5
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


class ServiceError(Exception):
    """A change that cannot be made; nothing was written and the message says why."""


@dataclass(frozen=True)
class Result:
    """What a change did.

    `changed` counts the heroes whose team or membership changed, `unchanged` those
    already in the requested state; toggles also split `changed` into `joined` and
    `left`. Single-hero changes return the hero as it is now (`hero`) and, for a
    change of team, the team it had before (`previous_team`).
    """

    message: str
    changed: int = 0
    unchanged: int = 0
    joined: int = 0
    left: int = 0
    hero: Hero | None = None
    previous_team: Team | None = None
    statements: tuple[Statement, ...] = field(default=(), repr=False)


def _heroes(count: int) -> str:
    return ngettext("%(count)d hero", "%(count)d heroes", count) % {"count": count}


def _retry_on_conflict(func):
    """Re-run a whole change that PostgreSQL aborted as a deadlock or serialization failure."""

    @functools.wraps(func)
    def wrapper(**kwargs):
        for attempt in range(1, RETRIES + 1):
            try:
                return func(**kwargs)
            except OperationalError as exc:
                sqlstate = getattr(exc.__cause__, "sqlstate", None)
                nested = connections[DEFAULT_DB_ALIAS].in_atomic_block
                if sqlstate not in RETRYABLE_SQLSTATES or nested or attempt == RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _integrity_errors_as(message):
    """Turn an IntegrityError (a row deleted by someone else meanwhile) into a ServiceError."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(**kwargs):
            try:
                return func(**kwargs)
            except IntegrityError as exc:
                raise ServiceError(message.format(**kwargs)) from exc

        return wrapper

    return decorator


def _lock_hero(hero: Hero) -> Hero:
    """Fetch the hero (with its team) as it is now, locking its row until the end of the change."""
    try:
        return (
            Hero.objects.select_related("team")
            .select_for_update(no_key=True, of=("self",))
            .get(pk=hero.pk)
        )
    except Hero.DoesNotExist:
        raise ServiceError(f"Hero {hero.name} no longer exists.") from None


def _lock_team(team: Team) -> None:
    """Lock the team's row: membership changes of one team run one after the other."""
    if not Team.objects.select_for_update(no_key=True).filter(pk=team.pk).values("pk").exists():
        raise ServiceError(f"Team {team.name} no longer exists.")


def _insert(connection, source: str, params) -> int:
    """INSERT INTO heroteamlink (hero, team, is_training) `source`, ON CONFLICT DO NOTHING.

    Returns the number of links inserted.
    """
    qn = connection.ops.quote_name
    columns = ", ".join(qn(column) for column in ("hero_id", "team_id", "is_training"))
    # Identifiers are quoted by the backend and values are parameters.
    statement = (
        f"INSERT INTO {qn(HeroTeamLink._meta.db_table)} ({columns}) {source} ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def _insert_links(heroes: QuerySet, team: Team, training: bool) -> int:
    """Link each hero of `heroes` not yet a member to `team`: one INSERT ... SELECT."""
    select = (
        _selection(heroes)
        .exclude(team_links__team=team)
        .annotate(
            _team=Value(team.pk, output_field=BigIntegerField()),
            _training=Value(training, output_field=BooleanField()),
        )
        .values_list("pk", "_team", "_training")
    )
    connection = connections[select.db]
    # The SELECT always has a WHERE (the exclude above), which SQLite needs to
    # parse the ON CONFLICT clause after it.
    select_sql, params = select.query.get_compiler(connection=connection).as_sql()
    return _insert(connection, select_sql, params)


def _insert_link(hero: Hero, team: Team, training: bool) -> bool:
    """Link the hero to `team` unless already linked: one INSERT; True if it inserted a row."""
    connection = connections[DEFAULT_DB_ALIAS]
    return _insert(connection, "VALUES (%s, %s, %s)", (hero.pk, team.pk, training)) == 1


def _selection(heroes: QuerySet) -> QuerySet:
    """The heroes of a bulk change as an unordered QuerySet that can be filtered and updated."""
    if heroes.query.is_sliced:
        return Hero.objects.filter(pk__in=heroes.values("pk"))
    return heroes.order_by()


def _links(hero: Hero, team: Team) -> QuerySet:
    return HeroTeamLink.objects.filter(hero_id=hero.pk, team_id=team.pk)


# A hero's team ----------------------------------------------------------------------


@_retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def assign_team(*, hero: Hero, team: Team) -> Result:
    """Make `team` the hero's team: one UPDATE of `team_id` alone, none if it already is."""
    with sql.change() as statements:
        current = _lock_hero(hero)
        previous_team = current.team
        if current.team_id == team.pk:
            message, changed = f"{current.name} is already in {team.name}.", 0
        else:
            Hero.objects.filter(pk=current.pk).update(team=team)
            current.team = team
            message, changed = f"{current.name} is now in {team.name}.", 1
    return Result(
        message,
        changed=changed,
        unchanged=1 - changed,
        hero=current,
        previous_team=previous_team,
        statements=tuple(statements),
    )


@_retry_on_conflict
def clear_team(*, hero: Hero) -> Result:
    """Set the hero's team to NULL: one UPDATE of `team_id` alone, none if it has no team."""
    with sql.change() as statements:
        current = _lock_hero(hero)
        previous_team = current.team
        if previous_team is None:
            message, changed = f"{current.name} has no team.", 0
        else:
            Hero.objects.filter(pk=current.pk).update(team=None)
            current.team = None
            message, changed = f"{current.name} is no longer in {previous_team.name}.", 1
    return Result(
        message,
        changed=changed,
        unchanged=1 - changed,
        hero=current,
        previous_team=previous_team,
        statements=tuple(statements),
    )


@_retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def bulk_assign_team(*, heroes: QuerySet, team: Team) -> Result:
    """Make `team` the team of every hero in `heroes`: a COUNT and one UPDATE, whatever the size."""
    with sql.change() as statements:
        heroes = _selection(heroes)
        unchanged = heroes.filter(team=team).count()
        changed = heroes.exclude(team=team).update(team=team)
    message = f"{_heroes(changed)} assigned to {team.name}"
    if unchanged:
        message += f", {unchanged} already {ngettext('was', 'were', unchanged)}"
    return Result(
        message + ".",
        changed=changed,
        unchanged=unchanged,
        statements=tuple(statements),
    )


@_retry_on_conflict
def bulk_clear_team(*, heroes: QuerySet) -> Result:
    """Clear the team of every hero in `heroes`: a COUNT and one UPDATE, whatever the size."""
    with sql.change() as statements:
        heroes = _selection(heroes)
        unchanged = heroes.filter(team__isnull=True).count()
        changed = heroes.filter(team__isnull=False).update(team=None)
    message = f"{_heroes(changed)} no longer in a team"
    if unchanged:
        message += f", {unchanged} had none"
    return Result(message + ".", changed=changed, unchanged=unchanged, statements=tuple(statements))


# Memberships --------------------------------------------------------------------------


@_retry_on_conflict
@_integrity_errors_as("Hero {hero.name} no longer exists.")
def join_team(*, hero: Hero, team: Team, training: bool = False) -> Result:
    """Add the hero to `team` (as a trainee if `training`): one INSERT, none if already a member."""
    with sql.change() as statements:
        _lock_team(team)
        joined = int(_insert_link(hero, team, training))
    if joined:
        message = f"{hero.name} joined {team.name}{' as a trainee' if training else ''}."
    else:
        message = f"{hero.name} is already a member of {team.name}."
    return Result(
        message, changed=joined, unchanged=1 - joined, joined=joined, statements=tuple(statements)
    )


@_retry_on_conflict
def leave_team(*, hero: Hero, team: Team) -> Result:
    """Remove the hero from `team`: one DELETE, which removes nothing if not a member."""
    with sql.change() as statements:
        _lock_team(team)
        left, _ = _links(hero, team).delete()
    if left:
        message = f"{hero.name} left {team.name}."
    else:
        message = f"{hero.name} is not a member of {team.name}."
    return Result(
        message, changed=left, unchanged=1 - left, left=left, statements=tuple(statements)
    )


@_retry_on_conflict
@_integrity_errors_as("Hero {hero.name} no longer exists.")
def toggle_membership(*, hero: Hero, team: Team, training: bool = False) -> Result:
    """Leave `team` if a member, else join it: one DELETE, then an INSERT if it deleted nothing."""
    with sql.change() as statements:
        _lock_team(team)
        left, _ = _links(hero, team).delete()
        joined = 0 if left else int(_insert_link(hero, team, training))
    message = f"{hero.name} {'left' if left else 'joined'} {team.name}."
    return Result(
        message, changed=left + joined, joined=joined, left=left, statements=tuple(statements)
    )


@_retry_on_conflict
def set_training(*, hero: Hero, team: Team, training: bool) -> Result:
    """Set `is_training` on the hero's membership of `team`: one UPDATE, none if already so.

    Raises ServiceError if the hero is not a member.
    """
    with sql.change() as statements:
        _lock_team(team)
        changed = _links(hero, team).exclude(is_training=training).update(is_training=training)
        if not changed and not _links(hero, team).exists():
            raise ServiceError(f"{hero.name} is not a member of {team.name}.")
    state = "training in" if training else "a full member of"
    if changed:
        message = f"{hero.name} is now {state} {team.name}."
    else:
        message = f"{hero.name} is already {state} {team.name}."
    return Result(message, changed=changed, unchanged=1 - changed, statements=tuple(statements))


@_retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def bulk_join_team(*, heroes: QuerySet, team: Team, training: bool = False) -> Result:
    """Add every hero of `heroes` to `team`: a COUNT and one INSERT ... SELECT, at any size."""
    with sql.change() as statements:
        _lock_team(team)
        heroes = _selection(heroes)
        total = heroes.count()
        joined = _insert_links(heroes, team, training)
    message = f"{_heroes(joined)} joined {team.name}"
    if total - joined:
        message += (
            f", {total - joined} already {ngettext('was a member', 'were members', total - joined)}"
        )
    return Result(
        message + ".",
        changed=joined,
        unchanged=total - joined,
        joined=joined,
        statements=tuple(statements),
    )


@_retry_on_conflict
def bulk_leave_team(*, heroes: QuerySet, team: Team) -> Result:
    """Remove every hero of `heroes` from `team`: a COUNT and one DELETE, whatever the size."""
    with sql.change() as statements:
        _lock_team(team)
        heroes = _selection(heroes)
        total = heroes.count()
        left, _ = HeroTeamLink.objects.filter(
            team_id=team.pk, hero_id__in=_selection(heroes).values("pk")
        ).delete()
    message = f"{_heroes(left)} left {team.name}"
    if total - left:
        message += (
            f", {total - left} {ngettext('was not a member', 'were not members', total - left)}"
        )
    return Result(
        message + ".", changed=left, unchanged=total - left, left=left, statements=tuple(statements)
    )


@_retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def bulk_toggle_membership(*, heroes: QuerySet, team: Team, training: bool = False) -> Result:
    """Flip the membership in `team` of every hero of `heroes`: four statements at any size.

    The members leave and the others join: the highest link id before the INSERT
    tells the links that existed (which are deleted) from those just inserted.
    """
    with sql.change() as statements:
        _lock_team(team)
        last_id = HeroTeamLink.objects.aggregate(last=Max("pk"))["last"] or 0
        joined = _insert_links(heroes, team, training)
        left, _ = HeroTeamLink.objects.filter(
            team_id=team.pk, hero_id__in=_selection(heroes).values("pk"), pk__lte=last_id
        ).delete()
    return Result(
        f"{_heroes(joined)} joined {team.name}, {_heroes(left)} left.",
        changed=joined + left,
        joined=joined,
        left=left,
        statements=tuple(statements),
    )


@_retry_on_conflict
def bulk_set_training(*, heroes: QuerySet, team: Team, training: bool) -> Result:
    """Set `is_training` on the memberships in `team` of every hero of `heroes`: one UPDATE."""
    with sql.change() as statements:
        _lock_team(team)
        changed = (
            HeroTeamLink.objects.filter(
                team_id=team.pk, hero_id__in=_selection(heroes).values("pk")
            )
            .exclude(is_training=training)
            .update(is_training=training)
        )
    state = "training in" if training else "full members of"
    return Result(
        f"{_heroes(changed)} now {state} {team.name}.",
        changed=changed,
        statements=tuple(statements),
    )
