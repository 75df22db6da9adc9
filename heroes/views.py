"""The staff pages: heroes, teams, the memberships grid, and the history of changes.

Pages read through the models' QuerySet methods, a fixed handful of queries whatever
the size of the tables (keyset pagination: no OFFSET, no COUNT of the whole table).
Every change is a POST that calls `heroes.services`, reports the result as a message,
keeps its SQL for the panel of the next page and redirects back (post/redirect/get).
Forms carry the state they were rendered from, so a stale one changes nothing.
The services record every change (`ChangeSet`): the history sections and pages show
those records, and a revert is one more change through `services.revert_change_set`.
"""

import dataclasses
import functools
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import BadRequest, PermissionDenied
from django.db import router
from django.db.models import F, FilteredRelation, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from . import services
from .forms import (
    AssignTeamForm,
    ChangeFilterForm,
    ClearTeamForm,
    HeroFilterForm,
    MembershipForm,
    RevertForm,
    ToggleForm,
    TrainingForm,
)
from .history import revert_permissions
from .models import ChangeSet, Hero, HeroChange, HeroTeamLink, Team
from .panel import recorded_statements, remember_sql
from .rows import (
    HERO_FIELDS,
    GridCell,
    hero_membership_rows,
    hero_rows,
    team_choice_rows,
    team_member_rows,
)
from .services import ServiceError

HEROES_PER_PAGE = 50
TEAMS_PER_PAGE = 50
ROWS_PER_SECTION = 20
SEARCH_RESULTS = 20
SEARCH_CANDIDATES = 1000  # heroes found, of which the closest SEARCH_RESULTS are shown
GRID_HEROES = 20
GRID_TEAMS = 8
HISTORY_PER_PAGE = 10
CHANGES_PER_PAGE = 50
ENTRIES_PER_PAGE = 50
MAX_TEXT = 100
TEAM_COLUMNS = tuple(field.attname for field in Team._meta.concrete_fields)
HERO_COLUMNS = tuple(field.attname for field in Hero._meta.concrete_fields)

NOT_STAFF = "These pages are for staff only, and your account is not a staff account."
OUT_OF_DATE = "Nothing was changed: the page was out of date."

TO_ASSIGN = "assign or clear a hero's team"
TO_TOGGLE = "toggle a membership"
TO_TRAIN = "change whether a member is training"
TO_SEE_HISTORY = "see the history of changes"
VIEW_HISTORY = "heroes.view_changeset"
MEMBERSHIP_CHANGES = {
    # action: (service, permission, what the permission allows)
    "join": (services.join_team, "heroes.add_heroteamlink", "add a hero to a team"),
    "leave": (services.leave_team, "heroes.delete_heroteamlink", "remove a hero from a team"),
}


# Access --------------------------------------------------------------------------------


def staff_required(view):
    """Send anonymous users to the login page; answer 403 to users who are not staff."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            # After logging in, come back to the page a form was posted from, not to
            # the URL it was posted to (which only accepts POST).
            back = _safe_next(request) if request.method == "POST" else None
            return redirect_to_login(back or request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied(NOT_STAFF)
        return view(request, *args, **kwargs)

    return wrapper


def check_permissions(user, *permissions: str, to: str) -> None:
    """Raise PermissionDenied, naming the missing permissions, unless `user` has all of them."""
    missing = [permission for permission in permissions if not user.has_perm(permission)]
    if missing:
        noun = "permission" if len(missing) == 1 else "permissions"
        raise PermissionDenied(f"You need the {noun} {' and '.join(missing)} to {to}.")


def permissions_required(*permissions: str, to: str):
    """Decorator: answer 403, naming the missing permissions, unless the user has all of them."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            check_permissions(request.user, *permissions, to=to)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _abilities(user) -> dict[str, bool]:
    """What `user` may change on a hero or team page: asked once per page, not once per row."""
    return {
        "assign": user.has_perm("heroes.change_hero"),
        "join": user.has_perm("heroes.add_heroteamlink"),
        "leave": user.has_perm("heroes.delete_heroteamlink"),
        "train": user.has_perm("heroes.change_heroteamlink"),
    }


# Pagination by key -----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One page of rows in the order of a unique key, with links to the pages around it.

    Pages are found by the key (`?after=` / `?before=`), never by OFFSET or a total
    COUNT: page 1,000 of a million rows costs what page 1 does.
    """

    rows: list
    first_url: str | None = None
    previous_url: str | None = None
    next_url: str | None = None


def _cursor(request, name: str, kind: type):
    raw = request.GET.get(name, "")
    if not raw:
        return None
    if kind is str:
        return raw[:MAX_TEXT]
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number.") from None
    if abs(value) >= 2**63:
        raise BadRequest(f"{name} is out of range.")
    return value


def _url(request, **changes) -> str:
    """This page's URL with the query parameters in `changes` set, or removed where None."""
    query = request.GET.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = value
    encoded = query.urlencode()
    return f"{request.path}?{encoded}" if encoded else request.path


def _window(
    request, queryset, *, key: str, size: int, prefix: str = "", kind=int, descending=False
) -> Window:
    """The page of `queryset` that the request's `<prefix>after` / `<prefix>before` select.

    Rows come in the order of `key`, or the reverse with `descending` (newest first);
    "after" and "before" follow the order shown. `queryset` may instead be a reader,
    `read(where, order, limit)`, which returns the rows of a query of its own.
    """
    after_name, before_name = f"{prefix}after", f"{prefix}before"
    after, before = _cursor(request, after_name, kind), _cursor(request, before_name, kind)
    forward, backward = (f"-{key}", key) if descending else (key, f"-{key}")
    beyond, behind = ("lt", "gt") if descending else ("gt", "lt")
    if not callable(queryset):
        queryset = _reader(queryset)
    if before is not None:
        rows = queryset(Q(**{f"{key}__{behind}": before}), backward, size + 1)
        has_previous, has_next = len(rows) > size, True
        rows = rows[:size][::-1]
    else:
        beyond_after = Q(**{f"{key}__{beyond}": after}) if after is not None else Q()
        rows = queryset(beyond_after, forward, size + 1)
        has_previous, has_next = after is not None, len(rows) > size
        rows = rows[:size]
    paged = after is not None or before is not None
    return Window(
        rows,
        first_url=_url(request, **{after_name: None, before_name: None}) if paged else None,
        previous_url=(
            _url(request, **{after_name: None, before_name: _key_of(rows[0], key)})
            if rows and has_previous
            else None
        ),
        next_url=(
            _url(request, **{before_name: None, after_name: _key_of(rows[-1], key)})
            if rows and has_next
            else None
        ),
    )


def _reader(queryset):
    """`_window`'s reader of a queryset: its first `limit` rows matching `where` by `order`."""

    def read(where: Q, order: str, limit: int) -> list:
        return list(queryset.filter(where).order_by(order)[:limit])

    return read


def _key_of(row, key: str):
    return row[key] if isinstance(row, dict) else getattr(row, key)


def _text(request, name: str) -> str:
    return request.GET.get(name, "").strip()[:MAX_TEXT]


# Changes -------------------------------------------------------------------------------


def _safe_next(request) -> str | None:
    """The posted `next` page if it is a path on this site, else None."""
    target = request.POST.get("next", "").split("#", 1)[0]
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def _redirect_back(request, default: str, anchor: str = ""):
    """Redirect to the page the form was on (its `next` field), or to `default`."""
    return redirect((_safe_next(request) or default) + anchor)


def _report_errors(request, form) -> None:
    errors = dict.fromkeys(error for field in form.errors.values() for error in field)
    messages.error(request, " ".join(errors))


def _run(request, service, *, hero: Hero, **arguments) -> None:
    """Run a service and report it: its message, and its SQL for the next page.

    The service records the change in the history itself. A change that finds its work
    already done was posted from a stale page: the message says so as a warning. A
    ServiceError becomes an error message.
    """
    try:
        result = service(hero=hero, **arguments)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return
    remember_sql(request, result.statements)
    if result.changed:
        messages.success(request, result.message)
    else:
        messages.warning(request, f"{result.message} {OUT_OF_DATE}")


def _team_changed(hero: Hero) -> str:
    if hero.team is None:
        return f"{hero.name} now has no team. {OUT_OF_DATE}"
    return f"{hero.name}'s team is now {hero.team.name}. {OUT_OF_DATE}"


def _hero_url(pk) -> str:
    return reverse("heroes:hero_detail", args=[pk])


# Heroes --------------------------------------------------------------------------------


@require_GET
@staff_required
def hero_list(request):
    filters = HeroFilterForm(request.GET)
    page = None
    if filters.is_valid() and not filters.team_choices:
        heroes = Hero.objects.all()
        if text := filters.cleaned_data["q"].strip():
            heroes = heroes.search(text)
        if (team := filters.selected_team) is None:
            read = heroes.values(*HERO_FIELDS)
        else:

            def read(where: Q, order: str, limit: int) -> list[dict]:
                related = heroes.related_to(team, page=where, order=order, limit=limit)
                return list(related.values(*HERO_FIELDS).order_by(order)[:limit])

        page = _window(request, read, key="id", size=HEROES_PER_PAGE)
        page = dataclasses.replace(page, rows=hero_rows(page.rows))
    team_text = (
        filters.selected_team.name
        if filters.selected_team is not None
        else request.GET.get("team_name", "")
    )
    return render(
        request,
        "heroes/hero_list.html",
        {
            "filters": filters,
            "page": page,
            "q": request.GET.get("q", ""),
            "team_text": team_text,
            "filtered": any(request.GET.get(name) for name in ("q", "team", "team_name")),
        },
    )


@require_GET
@staff_required
def hero_detail(request, pk):
    # The hero, its team and its memberships in one query: a row per membership.
    rows = list(
        Hero.objects.filter(pk=pk)
        .with_team()
        .annotate(
            member_of=F("team_links__team_id"),
            member_of_name=F("team_links__team__name"),
            member_training=F("team_links__is_training"),
            member_since=F("team_links__created_at"),
        )
        .order_by("member_of_name")
    )
    if not rows:
        raise Http404("No hero has this id.")
    hero = rows[0]
    memberships = [
        {
            "team_id": row.member_of,
            "team__name": row.member_of_name,
            "is_training": row.member_training,
            "created_at": row.member_since,
        }
        for row in rows
        if row.member_of is not None
    ]
    team_q = _text(request, "team_q")
    teams = Team.objects.with_membership_of(hero)
    teams = teams.search(team_q) if team_q else teams.order_by("name")
    teams = list(teams[: SEARCH_RESULTS + 1])
    can = _abilities(request.user)
    history = None
    if request.user.has_perm(VIEW_HISTORY):
        # The hero's entries with their change sets: one query (the prefetch of entries
        # for a page of change sets would be a second), in the (hero, change_set) index.
        entries = _window(
            request,
            HeroChange.objects.history_of(hero),
            key="change_set_id",
            size=HISTORY_PER_PAGE,
            prefix=HISTORY_PREFIX,
            descending=True,
        )
        history = _history(request, entries, [(e.change_set, e) for e in entries.rows], hero)
    return render(
        request,
        "heroes/hero_detail.html",
        {
            "hero": hero,
            "memberships": hero_membership_rows(memberships, can),
            "team_q": team_q,
            "teams": team_choice_rows(teams[:SEARCH_RESULTS], hero, can),
            "more_teams": len(teams) > SEARCH_RESULTS,
            "history": history,
            "can": can,
            "assign_url": reverse("heroes:hero_assign_team", args=[hero.pk]),
            "membership_url": reverse("heroes:hero_membership", args=[hero.pk]),
            "training_url": reverse("heroes:hero_training", args=[hero.pk]),
            "next": request.get_full_path(),
        },
    )


@require_POST
@staff_required
@permissions_required("heroes.change_hero", to=TO_ASSIGN)
def hero_assign_team(request, pk):
    hero = get_object_or_404(Hero.objects.with_team(), pk=pk)
    form = AssignTeamForm(request.POST)
    if not form.is_valid():
        _report_errors(request, form)
    elif form.cleaned_data["expected_team"] != hero.team_id:
        messages.warning(request, _team_changed(hero))
    else:
        _run(request, services.assign_team, hero=hero, team=form.cleaned_data["team"])
    return _redirect_back(request, _hero_url(hero.pk))


@require_POST
@staff_required
@permissions_required("heroes.change_hero", to=TO_ASSIGN)
def hero_clear_team(request, pk):
    hero = get_object_or_404(Hero.objects.with_team(), pk=pk)
    form = ClearTeamForm(request.POST)
    if not form.is_valid():
        _report_errors(request, form)
    elif form.cleaned_data["expected_team"] != hero.team_id:
        messages.warning(request, _team_changed(hero))
    else:
        _run(request, services.clear_team, hero=hero)
    return _redirect_back(request, _hero_url(hero.pk))


@require_POST
@staff_required
def hero_membership(request, pk):
    """Join or leave a team, as the posted `action` says (never the opposite)."""
    hero = get_object_or_404(Hero, pk=pk)
    form = MembershipForm(request.POST)
    if form.is_valid():
        service, permission, allows = MEMBERSHIP_CHANGES[form.cleaned_data["action"]]
        check_permissions(request.user, permission, to=allows)
        _run(request, service, hero=hero, team=form.cleaned_data["team"])
    else:
        _report_errors(request, form)
    return _redirect_back(request, _hero_url(hero.pk))


@require_POST
@staff_required
@permissions_required("heroes.change_heroteamlink", to=TO_TRAIN)
def hero_training(request, pk):
    hero = get_object_or_404(Hero, pk=pk)
    form = TrainingForm(request.POST)
    if form.is_valid():
        _run(
            request,
            services.set_training,
            hero=hero,
            team=form.cleaned_data["team"],
            training=form.cleaned_data["training"],
        )
    else:
        _report_errors(request, form)
    return _redirect_back(request, _hero_url(hero.pk))


# Teams ---------------------------------------------------------------------------------


@require_GET
@staff_required
def team_list(request):
    q = _text(request, "q")
    teams = Team.objects.with_counts()
    if q:
        teams = teams.search(q)
    page = _window(request, teams, key="name", size=TEAMS_PER_PAGE, kind=str)
    return render(request, "heroes/team_list.html", {"page": page, "q": q})


def _team_and_heroes(request, pk) -> tuple[Team, Window]:
    """The team and the page of heroes whose team it is, in one query (or a 404).

    The team LEFT JOIN the heroes of the page, found by a subquery of the join's
    condition: a team with no hero on the page still comes, as one row of NULL heroes.
    (The bounds alone in the condition would have the database sort all of a big team's
    heroes, 87,000 of them for 60 ms, before keeping the page's: the subquery walks the
    index of ids as the page's own query does, and the join sorts 20 rows.)
    """
    team = None

    def read(where: Q, order: str, limit: int) -> list[Hero]:
        nonlocal team
        ids = Hero.objects.filter(where, team_id=pk).order_by(order).values("pk")[:limit]
        page = FilteredRelation("heroes", condition=Q(heroes__pk__in=Subquery(ids)))
        rows = list(
            Team.objects.filter(pk=pk)
            .annotate(page=page)
            .order_by(order.replace("pk", "page__pk"))
            .values_list(*TEAM_COLUMNS, *(f"page__{name}" for name in HERO_COLUMNS))[:limit]
        )
        if not rows:
            raise Http404("No team has this id.")
        db = router.db_for_read(Team)
        team = Team.from_db(db, TEAM_COLUMNS, rows[0][: len(TEAM_COLUMNS)])
        return [
            Hero.from_db(db, HERO_COLUMNS, row[len(TEAM_COLUMNS) :])
            for row in rows
            if row[len(TEAM_COLUMNS)] is not None
        ]

    heroes = _window(request, read, key="pk", size=ROWS_PER_SECTION, prefix="h")
    return team, heroes


@require_GET
@staff_required
def team_detail(request, pk):
    team, heroes = _team_and_heroes(request, pk)
    members = _window(
        request,
        HeroTeamLink.objects.filter(team=team).select_related("hero"),
        key="hero_id",
        size=ROWS_PER_SECTION,
        prefix="m",
    )
    can = _abilities(request.user)
    hero_q = _text(request, "hero_q")
    found = None
    if hero_q:
        candidates = Hero.objects.search(hero_q, candidates=SEARCH_CANDIDATES)
        found = list(candidates.with_membership_in(team)[: SEARCH_RESULTS + 1])
    history = None
    if request.user.has_perm(VIEW_HISTORY):
        change_sets = _window(
            request,
            ChangeSet.objects.for_team(team).with_kind(),
            key="pk",
            size=HISTORY_PER_PAGE,
            prefix=HISTORY_PREFIX,
            descending=True,
        )
        history = _history(request, change_sets, [(c, None) for c in change_sets.rows])
    return render(
        request,
        "heroes/team_detail.html",
        {
            "team": team,
            "heroes": heroes,
            "members": members,
            "member_rows": team_member_rows(members.rows, team, can),
            "hero_q": hero_q,
            "found": found[:SEARCH_RESULTS] if found is not None else None,
            "more_found": found is not None and len(found) > SEARCH_RESULTS,
            "history": history,
            "can": can,
            "next": request.get_full_path(),
        },
    )


# The memberships grid ------------------------------------------------------------------


def _toggle_fields(post) -> dict:
    """ToggleForm's data: posted as `hero`, `team` and `action`, or by a button of the grid
    (one form for the whole grid) as `cell`, "<action> <hero> <team>" (see GridCell)."""
    if "cell" not in post:
        return post
    action, hero, team = ([*post["cell"].split(maxsplit=2), "", "", ""])[:3]
    return {"action": action, "hero": hero, "team": team}


@require_GET
@staff_required
def membership_grid(request):
    hq, tq = _text(request, "hq"), _text(request, "tq")
    heroes = Hero.objects.search(hq) if hq else Hero.objects.all()
    teams = Team.objects.search(tq) if tq else Team.objects.all()
    hero_page = _window(request, heroes, key="pk", size=GRID_HEROES, prefix="h")
    team_page = _window(request, teams, key="name", size=GRID_TEAMS, prefix="t", kind=str)
    links = {}
    if hero_page.rows and team_page.rows:
        links = {
            (hero_id, team_id): training
            for hero_id, team_id, training in HeroTeamLink.objects.filter(
                hero_id__in=[hero.pk for hero in hero_page.rows],
                team_id__in=[team.pk for team in team_page.rows],
            ).values_list("hero_id", "team_id", "is_training")
        }
    can_toggle = request.user.has_perms(["heroes.add_heroteamlink", "heroes.delete_heroteamlink"])
    team_names = [(team.pk, escape(team.name)) for team in team_page.rows]
    rows = []
    for hero in hero_page.rows:
        name = escape(hero.name)
        cells = [
            GridCell(hero.pk, name, team_id, team_name, links.get((hero.pk, team_id)), can_toggle)
            for team_id, team_name in team_names
        ]
        rows.append((hero, cells))
    return render(
        request,
        "heroes/membership_grid.html",
        {
            "hq": hq,
            "tq": tq,
            "hero_page": hero_page,
            "team_page": team_page,
            "rows": rows,
            "can_toggle": can_toggle,
            "next": request.get_full_path(),
        },
    )


@require_POST
@staff_required
@permissions_required("heroes.add_heroteamlink", "heroes.delete_heroteamlink", to=TO_TOGGLE)
def membership_toggle(request):
    """Flip one cell of the grid: join or leave as the cell says; a stale cell changes nothing."""
    form = ToggleForm(_toggle_fields(request.POST))
    anchor = ""
    if form.is_valid():
        hero, team = form.cleaned_data["hero"], form.cleaned_data["team"]
        service, _, _ = MEMBERSHIP_CHANGES[form.cleaned_data["action"]]
        _run(request, service, hero=hero, team=team)
        anchor = f"#cell-{hero.pk}-{team.pk}"
    else:
        _report_errors(request, form)
    return _redirect_back(request, reverse("heroes:membership_grid"), anchor)


# History ---------------------------------------------------------------------------------

HISTORY_PREFIX = "changes_"
Operation = ChangeSet.Operation


@dataclass(frozen=True)
class HistoryRow:
    """One change set of a history section, with what the page's user may do with it.

    `entry` is the hero's part of it on a hero's page; `for_hero` is set when that is
    a part of a bulk change, which the row reverts for that hero only.
    """

    change: ChangeSet
    entry: HeroChange | None
    can_revert: bool
    for_hero: Hero | None = None


def _history(request, window: Window, changes, hero: Hero | None = None) -> Window:
    """`window` with its rows as HistoryRows, from its (change set, hero's entry) pairs."""
    rows = []
    for change, entry in changes:
        kind = entry.kind if entry is not None else change.kind
        can_revert = request.user.has_perms(
            revert_permissions(change.operation, has_team_entries=kind == HeroChange.Kind.TEAM)
        )
        for_hero = hero if hero is not None and change.heroes_changed > 1 else None
        rows.append(HistoryRow(change, entry, can_revert, for_hero))
    return dataclasses.replace(window, rows=rows)


@require_GET
@staff_required
@permissions_required(VIEW_HISTORY, to=TO_SEE_HISTORY)
def change_list(request):
    """Every recorded change, newest first, filtered by source, user and dates."""
    filters = ChangeFilterForm(request.GET)
    page = None
    if filters.is_valid():
        page = _window(
            request,
            filters.filter(ChangeSet.objects.all()),
            key="pk",
            size=CHANGES_PER_PAGE,
            descending=True,
        )
    return render(
        request,
        "heroes/change_list.html",
        {
            "filters": filters,
            "page": page,
            "filtered": any(request.GET.get(name) for name in filters.fields),
        },
    )


@require_GET
@staff_required
@permissions_required(VIEW_HISTORY, to=TO_SEE_HISTORY)
def change_detail(request, pk):
    """One change in full: who, when, where, what, its SQL, its entries, its reverts."""
    change = get_object_or_404(
        ChangeSet.objects.with_kind()
        .select_related("team", "reverts")
        .prefetch_related("reverted_by"),
        pk=pk,
    )
    entries = _window(request, change.entries.with_teams(), key="pk", size=ENTRIES_PER_PAGE)
    return render(
        request,
        "heroes/change_detail.html",
        {
            "change": change,
            "statements": recorded_statements(change.sql),
            "entries": entries,
            "bulk": change.heroes_changed > 1,
            "can_revert": request.user.has_perms(
                revert_permissions(
                    change.operation, has_team_entries=change.kind == HeroChange.Kind.TEAM
                )
            ),
            "next": request.get_full_path(),
        },
    )


@require_POST
@staff_required
@permissions_required(VIEW_HISTORY, to=TO_SEE_HISTORY)
def change_revert(request, pk):
    """Revert a change set, or only its part about the posted `hero`, as a new change set."""
    change = get_object_or_404(ChangeSet.objects.with_kind(), pk=pk)
    check_permissions(
        request.user,
        *sorted(
            revert_permissions(
                change.operation, has_team_entries=change.kind == HeroChange.Kind.TEAM
            )
        ),
        to=f"revert change #{change.pk}",
    )
    back = reverse("heroes:change_detail", args=[change.pk])
    form = RevertForm(request.POST)
    if not form.is_valid():
        _report_errors(request, form)
        return _redirect_back(request, back)
    try:
        result = services.revert_change_set(change_set=change, hero=form.cleaned_data["hero"])
    except ServiceError as exc:
        # Refused: the explanation says what has moved since; nothing was written.
        messages.error(request, str(exc))
    else:
        remember_sql(request, result.statements)
        messages.success(request, result.message)
    return _redirect_back(request, back)
