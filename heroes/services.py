"""Every write of a connection: a hero's team and team memberships, singly and in bulk.

Each function runs in one transaction (`sql.change()`), is idempotent where its name
allows, returns a `Result` that says what changed and carries the SQL it ran, and
raises `ServiceError` (with a message for people) when the change cannot be made, in
which case nothing was written.

History: every change that changes something is recorded in the same transaction
(`heroes.history`): one change set, attributed to who made it and from where, with
one entry per hero that changed (before and after) and the SQL of the change. Entries
are written by INSERT ... SELECT, so recording costs a fixed number of statements, and
a bulk change is then made from its entries rather than from the selection again.
`revert_change_set` puts a change set back, refusing if the state has moved on since.

Concurrency: membership changes of a team are serialised by a lock on the team's row
(`SELECT ... FOR NO KEY UPDATE` on PostgreSQL; on SQLite every writer already holds
the database's write lock from `BEGIN IMMEDIATE`), so a toggle always sees the state
the previous one left and N toggles flip a pair N times. A hero's team is changed
under a lock on the hero's row; a bulk change of teams locks its heroes' rows in id
order first, so that two of them wait for each other rather than deadlock. A
transaction that PostgreSQL aborts as a deadlock or serialization failure is retried
from the start.
"""

import dataclasses
import functools
from dataclasses import dataclass, field

from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
)
from django.db.models import Count, Q, QuerySet
from django.utils.translation import ngettext

from . import history, sql
from .bulk import lock_and_count
from .models import ChangeSet, Hero, HeroChange, HeroTeamLink, Team
from .sql import Statement

Operation = ChangeSet.Operation

RETRIES = 5
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


class ServiceError(Exception):
    """A change that cannot be made; nothing was written and the message says why."""


class _Conflict(Exception):
    """Rows changed between reading and writing them (PostgreSQL); the change is re-run."""


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
    change_set: ChangeSet | None = None
    statements: tuple[Statement, ...] = field(default=(), repr=False)


def _heroes(count: int) -> str:
    return ngettext("%(count)d hero", "%(count)d heroes", count) % {"count": count}


# Connection exceptions, and the server shutting down or killing the session.
LOST_SQLSTATE_PREFIXES = ("08", "57P")


def _connection_lost(connection, sqlstate: str | None) -> bool:
    """True if the connection died (and close it, so the next attempt opens a new one)."""
    killed = (sqlstate or "").startswith(LOST_SQLSTATE_PREFIXES)
    if not killed and (connection.connection is None or connection.is_usable()):
        return False
    connection.close()
    return True


def retry_on_conflict(func):
    """Re-run a whole change that the database aborted before it could commit.

    That is a deadlock or serialization failure (PostgreSQL), a conflict with a
    concurrent change (`_Conflict`), or a connection lost in the middle of the change
    (killed, or the server restarted): the transaction died with it, so nothing was
    written. A failure of the COMMIT itself is never re-run, since it may have landed.
    """

    @functools.wraps(func)
    def wrapper(**kwargs):
        for attempt in range(1, RETRIES + 1):
            try:
                return func(**kwargs)
            except (OperationalError, InterfaceError, _Conflict) as exc:
                connection = connections[DEFAULT_DB_ALIAS]
                sqlstate = getattr(exc.__cause__, "sqlstate", None)
                lost = (
                    not isinstance(exc, _Conflict)
                    and not getattr(exc, "during_commit", False)
                    and _connection_lost(connection, sqlstate)
                )
                retryable = isinstance(exc, _Conflict) or sqlstate in RETRYABLE_SQLSTATES or lost
                if not retryable or connection.in_atomic_block or attempt == RETRIES:
                    if isinstance(exc, _Conflict):
                        raise ServiceError(
                            "Other changes to the same heroes kept interfering; try again."
                        ) from exc
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
    """Lock the team's row: membership changes of one team run one after the other.

    What the change then reads of the team's memberships takes statements of their own:
    on PostgreSQL a statement that waited for this lock still sees the other tables as
    they were when it began, so a membership read in it (a subquery) can be stale.
    """
    if not Team.objects.select_for_update(no_key=True).filter(pk=team.pk).values("pk").exists():
        raise ServiceError(f"Team {team.name} no longer exists.")


def _insert_link(hero: Hero, team: Team, training: bool) -> bool:
    """Link the hero to `team` unless already linked: one INSERT; True if it inserted a row."""
    connection = connections[DEFAULT_DB_ALIAS]
    qn = connection.ops.quote_name
    columns = ", ".join(map(qn, ["hero_id", "team_id", "is_training"]))
    statement = (
        f"INSERT INTO {qn(HeroTeamLink._meta.db_table)} ({columns}) "  # noqa: S608
        "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, (hero.pk, team.pk, training))
        return cursor.rowcount == 1


def _selection(heroes: QuerySet) -> QuerySet:
    """The heroes of a bulk change as an unordered QuerySet that can be filtered and updated."""
    if heroes.query.is_sliced:
        return Hero.objects.filter(pk__in=heroes.values("pk"))
    return heroes.order_by()


def _one(hero: Hero) -> QuerySet:
    return Hero.objects.filter(pk=hero.pk)


def _links(hero: Hero, team: Team) -> QuerySet:
    return HeroTeamLink.objects.filter(hero_id=hero.pk, team_id=team.pk)


def _made_as_recorded(made: int, recorded: int) -> None:
    """Re-run the change (`_Conflict`) if it wrote other rows than its entries record.

    Memberships are changed under their team's lock, so for them this never happens;
    heroes' teams can be changed behind a revert's back (PostgreSQL). Either way, a
    change is never committed with a record that says otherwise.
    """
    if made != recorded:
        raise _Conflict


def _done(change_set, message, changed, statements, **fields) -> Result:
    """Finish the change set's record and build the Result."""
    change_set = history.finish(
        change_set, message=message, heroes_changed=changed, statements=statements
    )
    return Result(message, changed=changed, change_set=change_set, **fields)


# A hero's team ----------------------------------------------------------------------


def _move(heroes: QuerySet, team: Team | None, operation: str) -> tuple:
    """Lock `heroes`, record their move to `team`, then make it from the entries.

    Returns the change set, the number of heroes moved and of those already there.
    """
    total = lock_and_count(heroes)
    change_set = history.begin(operation, team=team)
    changed = history.record_team_changes(change_set, heroes, team)
    _made_as_recorded(history.move_heroes(change_set.entries.all(), team), changed)
    return change_set, changed, total - changed


@retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def assign_team(*, hero: Hero, team: Team) -> Result:
    """Make `team` the hero's team: one UPDATE of `team_id` alone, none if it already is."""
    with sql.change() as statements:
        current = _lock_hero(hero)
        previous_team = current.team
        if current.team_id == team.pk:
            message = f"{current.name} is already in {team.name}."
            result = Result(message, unchanged=1, hero=current, previous_team=previous_team)
        else:
            change_set = history.begin(Operation.ASSIGN, team=team)
            history.record_team_changes(change_set, _one(current), team)
            Hero.objects.filter(pk=current.pk).update(team=team)
            current.team = team
            message = f"{current.name} is now in {team.name}."
            result = _done(
                change_set, message, 1, statements, hero=current, previous_team=previous_team
            )
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
def clear_team(*, hero: Hero) -> Result:
    """Set the hero's team to NULL: one UPDATE of `team_id` alone, none if it has no team."""
    with sql.change() as statements:
        current = _lock_hero(hero)
        previous_team = current.team
        if previous_team is None:
            result = Result(f"{current.name} has no team.", unchanged=1, hero=current)
        else:
            change_set = history.begin(Operation.CLEAR, team=previous_team)
            history.record_team_changes(change_set, _one(current), None)
            Hero.objects.filter(pk=current.pk).update(team=None)
            current.team = None
            message = f"{current.name} is no longer in {previous_team.name}."
            result = _done(
                change_set, message, 1, statements, hero=current, previous_team=previous_team
            )
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def bulk_assign_team(*, heroes: QuerySet, team: Team) -> Result:
    """Make `team` the team of every hero in `heroes`: a fixed number of statements at any size."""
    with sql.change() as statements:
        change_set, changed, unchanged = _move(_selection(heroes), team, Operation.ASSIGN)
        message = f"{_heroes(changed)} assigned to {team.name}"
        if unchanged:
            message += f", {unchanged} already {ngettext('was', 'were', unchanged)}"
        result = _done(change_set, message + ".", changed, statements, unchanged=unchanged)
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
def bulk_clear_team(*, heroes: QuerySet) -> Result:
    """Clear the team of every hero in `heroes`: a fixed number of statements at any size."""
    with sql.change() as statements:
        change_set, changed, unchanged = _move(_selection(heroes), None, Operation.CLEAR)
        message = f"{_heroes(changed)} no longer in a team"
        if unchanged:
            message += f", {unchanged} had none"
        result = _done(change_set, message + ".", changed, statements, unchanged=unchanged)
    return dataclasses.replace(result, statements=tuple(statements))


# Memberships --------------------------------------------------------------------------


@retry_on_conflict
@_integrity_errors_as("Hero {hero.name} no longer exists.")
def join_team(*, hero: Hero, team: Team, training: bool = False) -> Result:
    """Add the hero to `team` (as a trainee if `training`): one INSERT, none if already a member."""
    with sql.change() as statements:
        _lock_team(team)
        if _links(hero, team).exists():
            result = Result(f"{hero.name} is already a member of {team.name}.", unchanged=1)
        else:
            change_set = history.begin(Operation.JOIN, team=team)
            if not history.record_join(change_set, hero, team, training):
                raise ServiceError(f"Hero {hero.name} no longer exists.")
            _insert_link(hero, team, training)
            message = f"{hero.name} joined {team.name}{' as a trainee' if training else ''}."
            result = _done(change_set, message, 1, statements, joined=1)
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
def leave_team(*, hero: Hero, team: Team) -> Result:
    """Remove the hero from `team`: one DELETE, none if not a member."""
    with sql.change() as statements:
        _lock_team(team)
        change_set = history.begin(Operation.LEAVE, team=team)
        if history.record_leave(change_set, hero, team):
            _links(hero, team).delete()
            result = _done(change_set, f"{hero.name} left {team.name}.", 1, statements, left=1)
        else:
            history.finish(change_set, message="", heroes_changed=0, statements=())
            result = Result(f"{hero.name} is not a member of {team.name}.", unchanged=1)
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
@_integrity_errors_as("Hero {hero.name} no longer exists.")
def toggle_membership(*, hero: Hero, team: Team, training: bool = False) -> Result:
    """Leave `team` if a member, else join it: one DELETE or one INSERT."""
    with sql.change() as statements:
        _lock_team(team)
        change_set = history.begin(Operation.TOGGLE, team=team)
        if history.record_leave(change_set, hero, team):
            _links(hero, team).delete()
            result = _done(change_set, f"{hero.name} left {team.name}.", 1, statements, left=1)
        elif history.record_join(change_set, hero, team, training):
            _insert_link(hero, team, training)
            message = f"{hero.name} joined {team.name}."
            result = _done(change_set, message, 1, statements, joined=1)
        else:
            raise ServiceError(f"Hero {hero.name} no longer exists.")
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
def set_training(*, hero: Hero, team: Team, training: bool) -> Result:
    """Set `is_training` on the hero's membership of `team`: one UPDATE, none if already so.

    Raises ServiceError if the hero is not a member.
    """
    state = "training in" if training else "a full member of"
    with sql.change() as statements:
        _lock_team(team)
        link = _links(hero, team).values("is_training").first()
        if link is None:
            raise ServiceError(f"{hero.name} is not a member of {team.name}.")
        if link["is_training"] == training:
            result = Result(f"{hero.name} is already {state} {team.name}.", unchanged=1)
        else:
            change_set = history.begin(Operation.TRAINING, team=team)
            history.record_links(
                change_set, _links(hero, team), member_after=True, training_after=training
            )
            _links(hero, team).update(is_training=training)
            message = f"{hero.name} is now {state} {team.name}."
            result = _done(change_set, message, 1, statements)
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def bulk_join_team(*, heroes: QuerySet, team: Team, training: bool = False) -> Result:
    """Add every hero of `heroes` to `team`: a fixed number of statements at any size."""
    with sql.change() as statements:
        _lock_team(team)
        heroes = _selection(heroes)
        total = heroes.count()
        change_set = history.begin(Operation.JOIN, team=team)
        joined = history.record_joins(change_set, heroes, team, training)
        _made_as_recorded(history.add_links(change_set.entries.all()), joined)
        message = f"{_heroes(joined)} joined {team.name}"
        if total - joined:
            already = ngettext("was a member", "were members", total - joined)
            message += f", {total - joined} already {already}"
        result = _done(
            change_set, message + ".", joined, statements, unchanged=total - joined, joined=joined
        )
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
def bulk_leave_team(*, heroes: QuerySet, team: Team) -> Result:
    """Remove every hero of `heroes` from `team`: a fixed number of statements at any size."""
    with sql.change() as statements:
        _lock_team(team)
        heroes = _selection(heroes)
        total = heroes.count()
        change_set = history.begin(Operation.LEAVE, team=team)
        links = history.links_of(heroes.values("pk"), team)
        left = history.record_links(change_set, links, member_after=False)
        _made_as_recorded(history.remove_links(change_set.entries.all(), team), left)
        message = f"{_heroes(left)} left {team.name}"
        if total - left:
            absent = ngettext("was not a member", "were not members", total - left)
            message += f", {total - left} {absent}"
        result = _done(
            change_set, message + ".", left, statements, unchanged=total - left, left=left
        )
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
@_integrity_errors_as("Team {team.name} no longer exists.")
def bulk_toggle_membership(*, heroes: QuerySet, team: Team, training: bool = False) -> Result:
    """Flip the membership in `team` of every hero of `heroes`: fixed statements at any size.

    The members leave and the others join: each hero's entry, written in one pass over
    `heroes`, says which, and the links are then inserted and deleted from the entries.
    """
    with sql.change() as statements:
        _lock_team(team)
        change_set = history.begin(Operation.TOGGLE, team=team)
        changed = history.record_toggles(change_set, _selection(heroes), team, training)
        entries = change_set.entries.all()
        joined = history.add_links(entries)
        left = history.remove_links(entries, team)
        _made_as_recorded(joined + left, changed)
        message = f"{_heroes(joined)} joined {team.name}, {_heroes(left)} left."
        result = _done(change_set, message, changed, statements, joined=joined, left=left)
    return dataclasses.replace(result, statements=tuple(statements))


@retry_on_conflict
def bulk_set_training(*, heroes: QuerySet, team: Team, training: bool) -> Result:
    """Set `is_training` on the memberships in `team` of `heroes`: fixed statements at any size."""
    with sql.change() as statements:
        _lock_team(team)
        links = history.links_of(_selection(heroes).values("pk"), team)
        links = links.exclude(is_training=training)
        change_set = history.begin(Operation.TRAINING, team=team)
        changed = history.record_links(
            change_set, links, member_after=True, training_after=training
        )
        _made_as_recorded(history.change_training(change_set.entries.all(), team), changed)
        state = "training in" if training else "full members of"
        message = f"{_heroes(changed)} now {state} {team.name}."
        result = _done(change_set, message, changed, statements)
    return dataclasses.replace(result, statements=tuple(statements))


# Undo -----------------------------------------------------------------------------------


@retry_on_conflict
def revert_change_set(*, change_set: ChangeSet, hero: Hero | None = None) -> Result:
    """Put back what `change_set` changed (only for `hero`, if given), as a new change set.

    Refused with an explanation, changing nothing, if any hero it changed is no longer
    in the state it left them in (someone changed it since, or it was reverted).
    A fixed number of statements, whatever the size of the change set.
    """
    with sql.change() as statements:
        try:
            original = (
                ChangeSet.objects.select_related("team")
                .select_for_update(of=("self",))
                .get(pk=change_set.pk)
            )
        except ChangeSet.DoesNotExist:
            raise ServiceError(f"Change #{change_set.pk} no longer exists.") from None
        entries = history.entries_to_revert(original, hero)
        counts = entries.aggregate(
            total=Count("pk"),
            team=Count("pk", filter=Q(kind=HeroChange.Kind.TEAM.value)),
            joins=Count("pk", filter=Q(member_before=False, member_after=True)),
            leaves=Count("pk", filter=Q(member_before=True, member_after=False)),
            training=Count("pk", filter=Q(member_before=True, member_after=True)),
        )
        if not counts["total"]:
            about = f" about {hero.name}" if hero is not None else ""
            raise ServiceError(f"Change #{original.pk} has nothing{about} to revert.")
        if original.team_id is not None:
            _lock_team(original.team)
        moved = history.out_of_place(entries)
        if moved:
            raise ServiceError(
                f"Change #{original.pk} cannot be reverted: the data has changed since. "
                + "; ".join(moved)
                + "."
            )
        change_set = history.begin(Operation.REVERT, team=original.team, reverts=original)
        history.record_inverse(change_set, entries)
        # The inverse entries are made like any change's (a join undone is a leave...),
        # one statement for each kind of change the original made.
        undo = change_set.entries.all()
        applied = 0
        if counts["team"]:
            applied += history.move_each_hero(undo)
        if counts["joins"]:
            applied += history.remove_links(undo, original.team)
        if counts["training"]:
            applied += history.change_training(undo, original.team)
        if counts["leaves"]:
            applied += history.add_links(undo)
        # Someone may have got there between the check above and the writes (PostgreSQL).
        _made_as_recorded(applied, counts["total"])
        about = f" for {hero.name}" if hero is not None else ""
        message = f"Reverted change #{original.pk}{about} ({original.message.rstrip('.')})."
        result = _done(change_set, message, counts["total"], statements)
    return dataclasses.replace(result, statements=tuple(statements))
