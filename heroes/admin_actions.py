"""The hero admin's bulk actions: choose a team, preview the change and its SQL, then run it.

Each action is a `BulkChange`: the service it calls, how to list the heroes it would
change (before and after) and the history message for each of them. The flow is
`delete_selected`'s: the action's first POST renders a confirmation page (with a team
chooser when the change needs one, then a preview from a dry run that is rolled
back); the page re-posts the selection with `post=yes`; the change then runs as one
bulk service call in one transaction, which also writes one admin history row per
changed hero with a single INSERT ... SELECT, so the number of queries is the same
for 10 heroes or for all 1,000,000.
"""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import (
    CharField,
    DateTimeField,
    F,
    IntegerField,
    OuterRef,
    PositiveSmallIntegerField,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import ngettext

from . import services, sql
from .admin_widgets import Autocomplete
from .bulk import insert_select
from .models import Hero, HeroTeamLink, Team
from .panel import panel_data, remember_sql
from .services import ServiceError, retry_on_conflict
from .sql import Statement

PREVIEW_ROWS = 50
# Transaction bookkeeping of the services' nested atomic blocks, left out of the panel.
SAVEPOINT_VERBS = frozenset({"SAVEPOINT", "RELEASE"})


# History -------------------------------------------------------------------------------


def log_changes(*, user_id: int, heroes: QuerySet, message) -> int:
    """Write one admin history row (a CHANGE) per hero of `heroes`: one INSERT ... SELECT.

    `message` is a string or an expression over the hero's row (so that it can say
    what the hero's team was). Returns the number of rows written.
    """
    content_type = ContentType.objects.get_for_model(Hero)
    if isinstance(message, str):
        message = Value(message, output_field=TextField())
    # Annotated in the table's column order, so the SELECT lines up with the INSERT.
    columns = {
        "action_time": Value(timezone.now(), output_field=DateTimeField()),
        "user_id": Value(user_id, output_field=IntegerField()),
        "content_type_id": Value(content_type.pk, output_field=IntegerField()),
        "object_id": Cast("pk", output_field=TextField()),
        "object_repr": F("name"),
        "action_flag": Value(CHANGE, output_field=PositiveSmallIntegerField()),
        "change_message": message,
    }
    rows = (
        heroes.order_by()
        .prefetch_related(None)
        .annotate(**{f"_log_{name}": value for name, value in columns.items()})
        .values_list(*(f"_log_{name}" for name in columns))
    )
    return insert_select(LogEntry, list(columns), rows)


# The changes ---------------------------------------------------------------------------


class TeamChoiceField(forms.ModelChoiceField):
    """A team by id; a value that cannot be an id (text, out of range) is an unknown team."""

    def to_python(self, value):
        if value not in self.empty_values:
            try:
                Team._meta.pk.clean(value, None)
            except ValidationError:
                raise ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice"
                ) from None
        return super().to_python(value)


class TeamChoiceForm(forms.Form):
    """The team of a bulk change, chosen with the admin's autocomplete (no list of teams)."""

    team = TeamChoiceField(
        queryset=Team.objects.all(),
        error_messages={"invalid_choice": "That team does not exist (any more)."},
    )

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        # Only the chosen team is ever rendered as an option; the others come from the
        # admin's autocomplete view as staff type.
        field.widget = Autocomplete(
            Hero._meta.get_field("team"), admin_site, attrs={"data-width": "20em"}
        )
        field.widget.choices = field.choices
        field.widget.is_required = field.required


class MembershipChoiceForm(TeamChoiceForm):
    training = forms.BooleanField(
        required=False, label="As a trainee", help_text="For the heroes who join the team."
    )


@dataclass(frozen=True)
class Row:
    """One hero of a preview: its state before the change and after it."""

    hero: Hero
    before: str
    after: str


def _membership(training: bool | None) -> str:
    if training is None:
        return "not a member"
    return "member (training)" if training else "member"


class BulkChange:
    """A bulk change of the selected heroes' connections, as an admin action runs it."""

    title: str
    form_class: type[TeamChoiceForm] | None = TeamChoiceForm
    membership = True

    def run(self, *, heroes, team, training) -> services.Result:
        """Make the change: one bulk service call."""
        raise NotImplementedError

    def log_groups(self, *, heroes, team, training):
        """(heroes, history message) pairs: the heroes the change will change."""
        raise NotImplementedError

    def preview(self, *, heroes, team, training, limit) -> list[Row]:
        """The first `limit` heroes the change will change, by id."""
        raise NotImplementedError


class AssignTeam(BulkChange):
    title = "Assign a team"
    membership = False

    def run(self, *, heroes, team, training):
        return services.bulk_assign_team(heroes=heroes, team=team)

    def log_groups(self, *, heroes, team, training):
        before = Coalesce(F("team__name"), Value("no team"), output_field=CharField())
        after = Value(f" to {team.name}.")
        message = Concat(Value("Changed team from "), before, after, output_field=TextField())
        return [(heroes.exclude(team=team), message)]

    def preview(self, *, heroes, team, training, limit):
        changing = heroes.exclude(team=team).select_related("team")[:limit]
        return [Row(hero, getattr(hero.team, "name", "no team"), team.name) for hero in changing]


class ClearTeam(BulkChange):
    title = "Clear the team"
    form_class = None
    membership = False

    def run(self, *, heroes, team, training):
        return services.bulk_clear_team(heroes=heroes)

    def log_groups(self, *, heroes, team, training):
        message = Concat(
            Value("Cleared team (was "), F("team__name"), Value(")."), output_field=TextField()
        )
        return [(heroes.filter(team__isnull=False), message)]

    def preview(self, *, heroes, team, training, limit):
        changing = heroes.filter(team__isnull=False).select_related("team")[:limit]
        return [Row(hero, hero.team.name, "no team") for hero in changing]


class JoinTeam(BulkChange):
    title = "Add to a team"
    form_class = MembershipChoiceForm

    def run(self, *, heroes, team, training):
        return services.bulk_join_team(heroes=heroes, team=team, training=training)

    def log_groups(self, *, heroes, team, training):
        message = f"Joined {team.name}{' as a trainee' if training else ''}."
        return [(heroes.exclude(team_links__team=team), message)]

    def preview(self, *, heroes, team, training, limit):
        changing = heroes.exclude(team_links__team=team)[:limit]
        return [Row(hero, _membership(None), _membership(training)) for hero in changing]


class LeaveTeam(BulkChange):
    title = "Remove from a team"

    def run(self, *, heroes, team, training):
        return services.bulk_leave_team(heroes=heroes, team=team)

    def log_groups(self, *, heroes, team, training):
        return [(heroes.filter(team_links__team=team), f"Left {team.name}.")]

    def preview(self, *, heroes, team, training, limit):
        changing = _with_membership(heroes, team).filter(membership__isnull=False)[:limit]
        return [Row(hero, _membership(hero.membership), _membership(None)) for hero in changing]


class ToggleMembership(BulkChange):
    title = "Toggle membership in a team"
    form_class = MembershipChoiceForm

    def run(self, *, heroes, team, training):
        return services.bulk_toggle_membership(heroes=heroes, team=team, training=training)

    def log_groups(self, *, heroes, team, training):
        return JoinTeam().log_groups(
            heroes=heroes, team=team, training=training
        ) + LeaveTeam().log_groups(heroes=heroes, team=team, training=training)

    def preview(self, *, heroes, team, training, limit):
        rows = []
        for hero in _with_membership(heroes, team)[:limit]:
            after = None if hero.membership is not None else training
            rows.append(Row(hero, _membership(hero.membership), _membership(after)))
        return rows


def _with_membership(heroes: QuerySet, team: Team) -> QuerySet:
    """Annotate `membership`: the hero's is_training in `team`, None if not a member."""
    link = HeroTeamLink.objects.filter(hero=OuterRef("pk"), team=team).values("is_training")
    return heroes.annotate(membership=Subquery(link[:1]))


# Running them --------------------------------------------------------------------------


class _DryRun(Exception):
    """Raised inside the change's transaction to roll it back after a preview."""

    def __init__(self, result, statements):
        super().__init__("dry run")
        self.result = result
        self.statements = statements


@retry_on_conflict
def perform(*, change: BulkChange, user_id: int, heroes: QuerySet, team, training, dry_run):
    """Run `change` and log it in one transaction; return the result and its statements.

    With `dry_run`, raise `_DryRun` at the end instead, which rolls everything back.
    """
    heroes = heroes.order_by().prefetch_related(None)
    with sql.change() as statements:
        if change.membership and not (
            # Lock the team first, as the service does, so that the history rows
            # written next describe the memberships the service will then change.
            Team.objects.select_for_update(no_key=True).filter(pk=team.pk).values("pk").exists()
        ):
            raise ServiceError(f"Team {team.name} no longer exists.")
        for group, message in change.log_groups(heroes=heroes, team=team, training=training):
            log_changes(user_id=user_id, heroes=group, message=message)
        result = change.run(heroes=heroes, team=team, training=training)
        if dry_run:
            raise _DryRun(result, statements)
    return result, statements


def shown(statements: list[Statement]) -> list[Statement]:
    """The statements for the SQL panel: without the savepoints of nested atomic blocks."""
    return [statement for statement in statements if statement.verb not in SAVEPOINT_VERBS]


def confirm_bulk_change(change: BulkChange, modeladmin, request, queryset):
    """The body of a bulk action: a confirmation page, then (with `post=yes`) the change.

    Returns a response for the confirmation page, or None once the change has run (or
    failed with a message), which sends the admin back to the change list.
    """
    form = None
    if change.form_class is not None:
        bound = "team" in request.POST or "post" in request.POST
        form = change.form_class(request.POST if bound else None, admin_site=modeladmin.admin_site)
    ready = form is None or form.is_valid()
    params = {"team": None, "training": False}
    if ready and form is not None:
        params.update(form.cleaned_data)
        form.fields["team"].widget.known = {str(params["team"].pk): params["team"].name}
    arguments = {"change": change, "user_id": request.user.pk, "heroes": queryset, **params}

    if ready and request.POST.get("post") == "yes":
        try:
            result, statements = perform(**arguments, dry_run=False)
        except ServiceError as error:
            modeladmin.message_user(request, str(error), messages.ERROR)
            return None
        level = messages.SUCCESS if result.changed else messages.INFO
        modeladmin.message_user(request, result.message, level)
        remember_sql(request, shown(statements))
        return None

    context = {
        **modeladmin.admin_site.each_context(request),
        "title": change.title,
        "subtitle": None,
        "opts": modeladmin.model._meta,
        "form": form,
        "media": modeladmin.media + (form.media if form else forms.Media()),
        "action_name": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
    }
    if ready:
        try:
            perform(**arguments, dry_run=True)
        except _DryRun as dry_run:
            result, rows = (
                dry_run.result,
                change.preview(
                    heroes=queryset.order_by("pk").prefetch_related(None),
                    limit=PREVIEW_ROWS,
                    **params,
                ),
            )
            context.update(
                preview=rows,
                result=result,
                total=result.changed + result.unchanged,
                more=max(result.changed - len(rows), 0),
                dry_run_sql=panel_data(shown(dry_run.statements)),
                team=params["team"],
                training=params["training"],
            )
        except ServiceError as error:
            modeladmin.message_user(request, str(error), messages.ERROR)
            return None
    else:
        context["total"] = queryset.count()
    context["heroes_word"] = ngettext("hero", "heroes", context["total"])
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/heroes/hero/bulk_change_confirmation.html", context)


ASSIGN_TEAM = AssignTeam()
CLEAR_TEAM = ClearTeam()
JOIN_TEAM = JoinTeam()
LEAVE_TEAM = LeaveTeam()
TOGGLE_MEMBERSHIP = ToggleMembership()
