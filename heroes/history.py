"""Record connection changes: who made them, from where, each hero's before and after, the SQL.

The services call these inside their own transaction, so a change and its record are
written together or not at all. Entries are written first, with INSERT ... SELECT, and
a bulk change is then made from its entries (`add_links`, `remove_links`,
`change_training`, `move_heroes`): the selection is read once, whatever it costs to
find, the change is exactly what was recorded, and both cost the same few statements
at any size. A revert records the inverse entries and makes them the same way.
Who and where come from `attributed()`, set once per request by
`heroes.middleware.AttributionMiddleware` and per run by the management commands.
"""

import functools
import getpass
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import router
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from .bulk import bind, compare_and_set, execute, insert_select, insert_select_sql
from .models import ChangeSet, Hero, HeroChange, HeroTeamLink, Team
from .sql import WRITE_VERBS, Statement

HISTORY_TABLES = (ChangeSet._meta.db_table, HeroChange._meta.db_table)
LINK_COLUMNS = ["hero_id", "team_id", "is_training"]
ENTRY_COLUMNS = [
    "change_set_id",
    "hero_id",
    "hero_name",
    "kind",
    "team_id",
    "team_before_id",
    "team_after_id",
    "member_before",
    "member_after",
    "training_before",
    "training_after",
]


@dataclass(frozen=True)
class Attribution:
    """Who makes the changes in this context, and through which interface.

    `user` may be a request's lazy user: it is looked at only when a change is recorded.
    """

    user: object | None
    actor: str
    source: str

    def resolve(self) -> tuple[object | None, str]:
        """The user (None if anonymous) and the name to show."""
        user = self.user if self.user is not None and self.user.is_authenticated else None
        return user, self.actor or (user.get_username() if user else "") or "anonymous"


_attribution: ContextVar[Attribution | None] = ContextVar("heroes_attribution", default=None)


def command_line_actor() -> str:
    """The OS user and host a command runs as, e.g. `alice@ops-1`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@contextmanager
def attributed(*, user=None, actor: str = "", source: str) -> Iterator[Attribution]:
    """Attribute the changes made inside to `user` (or `actor`) through `source`."""
    attribution = Attribution(user=user, actor=actor, source=source)
    token = _attribution.set(attribution)
    try:
        yield attribution
    finally:
        _attribution.reset(token)


def current() -> Attribution:
    """The attribution in force; without one, the change is from "other" code."""
    return _attribution.get() or Attribution(
        user=None, actor=command_line_actor(), source=ChangeSet.Source.OTHER
    )


def begin(operation: str, team: Team | None = None, reverts: ChangeSet | None = None) -> ChangeSet:
    """Insert the change set's row (one INSERT); `finish()` fills in what the change did."""
    who = current()
    user, actor = who.resolve()
    return ChangeSet.objects.create(
        user=user,
        actor=actor,
        source=str(who.source),
        operation=str(operation),
        team=team,
        reverts=reverts,
        message="",
        sql="",
    )


def change_sql(statements: Sequence[Statement]) -> str:
    """The statements of a change as the console shows them, the history's own left out."""
    lines = []
    for statement in statements:
        if statement.verb in WRITE_VERBS and any(
            f'"{table}"' in statement.sql.split("(", 1)[0] for table in HISTORY_TABLES
        ):
            continue
        lines.extend(statement.lines())
    return "\n".join(lines)


def finish(
    change_set: ChangeSet, *, message: str, heroes_changed: int, statements: Sequence[Statement]
) -> ChangeSet | None:
    """Complete the record (one UPDATE), or delete it (one DELETE) if nothing changed."""
    query = ChangeSet.objects.filter(pk=change_set.pk)
    if not heroes_changed:
        # A fast delete: no entries exist and nothing points at a fresh change set.
        query._raw_delete(query.db)
        return None
    change_set.message = message
    change_set.heroes_changed = heroes_changed
    change_set.sql = change_sql(statements)
    query.update(message=message, heroes_changed=heroes_changed, sql=change_set.sql)
    return change_set


def _entries(change_set: ChangeSet, select: QuerySet, **values) -> int:
    """INSERT ... SELECT entries of `change_set` from `select`, with `values` for the columns.

    Each value is a constant or an expression over `select`'s model.
    """
    return insert_select(HeroChange, ENTRY_COLUMNS, _entry_rows(change_set, select, **values))


def _entry_rows(change_set: ChangeSet, select: QuerySet, **values) -> QuerySet:
    """`select` as the rows of `_entries`: a values_list in the order of ENTRY_COLUMNS."""
    constants = {
        "change_set_id": Value(change_set.pk, output_field=BigIntegerField()),
    }
    annotations = {}
    names = []
    for column in ENTRY_COLUMNS:
        value = {**constants, **values}.get(column)
        if value is None:
            value = Value(None, output_field=BooleanField())
        elif not hasattr(value, "resolve_expression"):
            field = CharField() if isinstance(value, str) else BooleanField()
            if isinstance(value, int) and not isinstance(value, bool):
                field = BigIntegerField()
            value = Value(value, output_field=field)
        name = f"_history_{column}"
        annotations[name] = value
        names.append(name)
    # In the selection's key order, so that a change set's entries (listed by id) come in
    # the order of their heroes or links, whatever plan found them.
    return select.order_by("pk").annotate(**annotations).values_list(*names)


def record_team_changes(change_set: ChangeSet, heroes: QuerySet, team: Team | None) -> int:
    """Record, for each hero of `heroes` whose team is not `team`, the move to `team`."""
    changing = heroes.filter(team__isnull=False) if team is None else heroes.exclude(team=team)
    return _entries(
        change_set,
        changing,
        hero_id=F("pk"),
        hero_name=F("name"),
        kind=HeroChange.Kind.TEAM.value,
        team_before_id=F("team_id"),
        team_after_id=team.pk if team is not None else None,
    )


def record_joins(change_set: ChangeSet, heroes: QuerySet, team: Team, training: bool) -> int:
    """Record, for each hero of `heroes` not a member of `team`, joining it."""
    select, values = _joins(heroes, team, training)
    return _entries(change_set, select, **values)


def _joins(heroes: QuerySet, team: Team, training: bool) -> tuple[QuerySet, dict]:
    """`record_joins`' rows and values."""
    values = {
        "hero_id": F("pk"),
        "hero_name": F("name"),
        "kind": HeroChange.Kind.MEMBERSHIP.value,
        "team_id": team.pk,
        "member_before": False,
        "member_after": True,
        "training_after": training,
    }
    return heroes.exclude(team_links__team=team), values


def record_join(change_set: ChangeSet, hero: Hero, team: Team, training: bool) -> int:
    """`record_joins` for one hero: the same statement, built once (see `_one_hero`)."""
    return _one_hero("join", change_set, hero, team, training)


def record_leave(change_set: ChangeSet, hero: Hero, team: Team) -> int:
    """`record_links` of the hero's link to `team`, leaving: the same statement, built once."""
    return _one_hero("leave", change_set, hero, team, None)


# The ids a one-hero statement is built with, then replaced by a change's own: numbers no
# row has, so that each parameter that is one of them is known for what it stands for.
SENTINELS = {"change_set": -7_340_001, "hero": -7_340_002, "team": -7_340_003}


def _one_hero(kind: str, change_set: ChangeSet, hero: Hero, team: Team, training) -> int:
    """Record one hero's join or leave by a statement the ORM built once per database.

    Compiling an entry's INSERT ... SELECT costs the ORM 1.8 ms, eight times what
    running it does; a single join or leave (most of what the staff pages post) runs the
    statement built for sentinel ids, with the change's ids in their place.
    """
    alias = router.db_for_write(HeroChange)
    statement, params = _one_hero_statement(kind, alias, training)
    ids = {
        SENTINELS["change_set"]: change_set.pk,
        SENTINELS["hero"]: hero.pk,
        SENTINELS["team"]: team.pk,
    }
    return execute(alias, statement, bind(params, ids))


@functools.cache
def _one_hero_statement(kind: str, alias: str, training) -> tuple[str, tuple]:
    change_set = ChangeSet(pk=SENTINELS["change_set"])
    hero, team = Hero(pk=SENTINELS["hero"]), Team(pk=SENTINELS["team"])
    if kind == "join":
        select, values = _joins(Hero.objects.using(alias).filter(pk=hero.pk), team, training)
    else:
        links = HeroTeamLink.objects.using(alias).filter(hero_id=hero.pk, team_id=team.pk)
        select, values = _links_left(links, member_after=False)
    rows = _entry_rows(change_set, select, **values)
    return insert_select_sql(HeroChange, ENTRY_COLUMNS, rows)


def record_toggles(change_set: ChangeSet, heroes: QuerySet, team: Team, training: bool) -> int:
    """Record, for each hero of `heroes`, leaving `team` if a member, else joining it.

    One pass over `heroes`, each joined to its link in `team` if it has one.
    """
    heroes = heroes.annotate(
        _link=FilteredRelation("team_links", condition=Q(team_links__team=team))
    )
    member = Q(_link__isnull=False)
    return _entries(
        change_set,
        heroes,
        hero_id=F("pk"),
        hero_name=F("name"),
        kind=HeroChange.Kind.MEMBERSHIP.value,
        team_id=team.pk,
        member_before=ExpressionWrapper(member, output_field=BooleanField()),
        member_after=ExpressionWrapper(~member, output_field=BooleanField()),
        training_before=F("_link__is_training"),
        training_after=Coalesce(F("_link__is_training"), Value(training)),
    )


def record_links(
    change_set: ChangeSet, links: QuerySet, *, member_after: bool, training_after=None
) -> int:
    """Record, for each link of `links`, leaving (or, with member_after, a training change)."""
    select, values = _links_left(links, member_after=member_after, training_after=training_after)
    return _entries(change_set, select, **values)


def _links_left(links: QuerySet, *, member_after: bool, training_after=None) -> tuple:
    """`record_links`' rows and values."""
    values = {
        "hero_id": F("hero_id"),
        "hero_name": F("hero__name"),
        "kind": HeroChange.Kind.MEMBERSHIP.value,
        "team_id": F("team_id"),
        "member_before": True,
        "member_after": member_after,
        "training_before": F("is_training"),
        "training_after": F("is_training") if training_after is None else training_after,
    }
    return links, values


def links_of(hero_ids: QuerySet, team: Team) -> QuerySet:
    """The memberships in `team` of the heroes whose ids `hero_ids` (a values() QuerySet) has."""
    return HeroTeamLink.objects.filter(team_id=team.pk, hero_id__in=hero_ids)


# Making the recorded change -----------------------------------------------------------
#
# Each takes the entries of one change set and makes the change they record, in one
# statement that reads them through the (change_set, id) index, and returns how many
# rows it wrote: a count short of the entries' means the data was not as recorded.
# Memberships are only ever written under their team's lock (see services), so they are
# still as recorded; so are heroes moved in bulk, whose rows are locked before recording.


def membership_entries(entries: QuerySet, *, before: bool, after: bool) -> QuerySet:
    """The membership entries of `entries` from member (or not) `before` to `after`."""
    # Team entries leave member_before and member_after NULL: no need to test `kind`.
    return entries.filter(member_before=before, member_after=after)


def add_links(entries: QuerySet) -> int:
    """Insert the memberships that `entries` record as joined: one INSERT ... SELECT.

    A link that exists already is skipped (ON CONFLICT DO NOTHING).
    """
    rows = (
        membership_entries(entries, before=False, after=True)
        .order_by()
        .values_list("hero_id", "team_id", "training_after")
    )
    return insert_select(HeroTeamLink, LINK_COLUMNS, rows, ignore_conflicts=True)


def remove_links(entries: QuerySet, team: Team) -> int:
    """Delete the memberships in `team` that `entries` record as left: one DELETE.

    `team` is the entries' team (one per change set), named so that the links are
    looked up in the (team, hero) index rather than among all their heroes' links.
    """
    leaving = membership_entries(entries, before=True, after=False)
    return links_of(leaving.values("hero_id"), team).delete()[0]


def change_training(entries: QuerySet, team: Team) -> int:
    """Flip `is_training` on the memberships in `team` that `entries` record a change of.

    A training entry is only ever written for a link whose training changes, so its
    "after" is the opposite of its "before": flipping needs no value per link.
    """
    changing = membership_entries(entries, before=True, after=True)
    return links_of(changing.values("hero_id"), team).update(is_training=~F("is_training"))


def move_heroes(entries: QuerySet, team: Team | None) -> int:
    """Give the heroes of the team entries `entries` the team `team`: one UPDATE.

    For a bulk move, whose caller holds the heroes' rows (`bulk.lock_and_count`) from
    before it recorded their teams: they are still the entries' "before".
    """
    moving = entries.filter(kind=HeroChange.Kind.TEAM.value)
    return Hero.objects.filter(pk__in=moving.values("hero_id")).update(team=team)


def move_each_hero(entries: QuerySet) -> int:
    """Give each hero of the team entries `entries` its entry's team after: one UPDATE.

    Only the heroes whose team is still the entry's "before" are moved: a revert does
    not lock them, so one may have been moved since it was checked.
    """
    moving = entries.filter(kind=HeroChange.Kind.TEAM.value)
    return compare_and_set(
        Hero, "team", moving, key="hero_id", old="team_before_id", new="team_after_id"
    )


# Reverting ----------------------------------------------------------------------------


def entries_to_revert(change_set: ChangeSet, hero: Hero | None = None) -> QuerySet:
    """The entries a revert of `change_set` (or of its part about `hero`) puts back."""
    entries = change_set.entries.all()
    return entries if hero is None else entries.filter(hero=hero)


def out_of_place(entries: QuerySet, limit: int = 5) -> list[str]:
    """Describe up to `limit` entries whose "after" state is no longer the current state."""
    current_training = HeroTeamLink.objects.filter(
        hero_id=OuterRef("hero_id"), team_id=OuterRef("team_id")
    ).values("is_training")[:1]
    in_place = (
        Q(kind=HeroChange.Kind.TEAM.value, hero__isnull=False)
        & (
            Q(team_after_id=F("hero__team_id"))
            | Q(team_after__isnull=True, hero__team__isnull=True)
        )
    ) | (
        # A deleted team's memberships are gone with it: nothing to put back.
        Q(kind=HeroChange.Kind.MEMBERSHIP.value, hero__isnull=False, team__isnull=False)
        & (
            Q(member_after=False, _current_training__isnull=True)
            | Q(member_after=True, training_after=F("_current_training"))
        )
    )
    moved = (
        entries.annotate(_current_training=Subquery(current_training))
        # Case, not exclude(): a comparison with NULL must count as "not in place".
        .annotate(_in_place=Case(When(in_place, then=True), default=False))
        .filter(_in_place=False)
        .select_related("hero__team", "team", "team_before", "team_after")
        .order_by("pk")[:limit]
    )
    return [f"{entry.hero_name}: {describe_now(entry)}" for entry in moved]


def describe_now(entry: HeroChange) -> str:
    """What changed since `entry`, in words."""
    if entry.hero is None:
        return "the hero has been deleted"
    if entry.kind == HeroChange.Kind.TEAM:
        expected = entry.team_after.name if entry.team_after_id else "no team"
        now = entry.hero.team.name if entry.hero.team_id else "no team"
        return f"team is now {now}, not {expected}"
    if entry.team_id is None:
        return "the team has been deleted"
    team = entry.team.name
    if entry.member_after:
        state = "a trainee" if entry.training_after else "a full member"
        return f"is no longer {state} of {team}"
    return f"is a member of {team} again"


def record_inverse(change_set: ChangeSet, entries: QuerySet) -> int:
    """Record, as entries of `change_set`, the reverse of `entries` (before and after swapped)."""
    return _entries(
        change_set,
        entries,
        hero_id=F("hero_id"),
        hero_name=F("hero_name"),
        kind=F("kind"),
        team_id=F("team_id"),
        team_before_id=F("team_after_id"),
        team_after_id=F("team_before_id"),
        member_before=F("member_after"),
        member_after=F("member_before"),
        training_before=F("training_after"),
        training_after=F("training_before"),
    )


# Permissions ---------------------------------------------------------------------------

CHANGE_HERO = "heroes.change_hero"
ADD_LINK = "heroes.add_heroteamlink"
DELETE_LINK = "heroes.delete_heroteamlink"
CHANGE_LINK = "heroes.change_heroteamlink"
# What reverting each operation writes, so the permissions it needs: undoing a join
# deletes the link, undoing a leave adds it back; a toggle or a revert may go either way.
_REVERT_PERMISSIONS = {
    ChangeSet.Operation.ASSIGN: {CHANGE_HERO},
    ChangeSet.Operation.CLEAR: {CHANGE_HERO},
    ChangeSet.Operation.JOIN: {DELETE_LINK},
    ChangeSet.Operation.LEAVE: {ADD_LINK},
    ChangeSet.Operation.TOGGLE: {ADD_LINK, DELETE_LINK},
    ChangeSet.Operation.TRAINING: {CHANGE_LINK},
    ChangeSet.Operation.REVERT: {ADD_LINK, DELETE_LINK},
}


def revert_permissions(operation: str, *, has_team_entries: bool = False) -> frozenset[str]:
    """The permissions needed to revert a change set of `operation`.

    Reverting does the opposite of the operation, so it needs that opposite's
    permission. Toggles and reverts may go either way, so they need both membership
    permissions, and `heroes.change_hero` too when they moved heroes between teams
    (`has_team_entries`). An unknown operation needs every connection permission.
    """
    needed = _REVERT_PERMISSIONS.get(operation, {CHANGE_HERO, ADD_LINK, DELETE_LINK, CHANGE_LINK})
    if has_team_entries:
        needed = needed | {CHANGE_HERO}
    return frozenset(needed)
