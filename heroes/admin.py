"""The admin for teams, heroes and memberships; every connection change goes through services.

Built for big tables (1,000,000 heroes, 10,000 teams, 3,000,000 memberships): teams
and heroes are chosen with autocomplete, filters search for a team instead of listing
them all, change lists estimate their size instead of counting it, rows fetch their
team and memberships in a fixed number of queries, and bulk actions run one service
call whatever the selection's size.
"""

from collections.abc import Sequence

from django.contrib import admin, messages
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.db.models import OuterRef, Subquery
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from . import (
    admin_history,  # noqa: F401  (registers the history's admin)
    services,
    sql,
)
from .admin_actions import (
    ASSIGN_TEAM,
    CLEAR_TEAM,
    JOIN_TEAM,
    LEAVE_TEAM,
    TOGGLE_MEMBERSHIP,
    confirm_bulk_change,
    shown,
)
from .admin_filters import LinkTeamFilter, MembershipFilter, TeamFilter
from .admin_pagination import BigTableChangeList, BigTableMixin, IdBlocks
from .admin_widgets import Autocomplete, label_known_choices
from .models import Hero, HeroTeamLink, Team
from .panel import remember_sql
from .services import ServiceError

MEMBERS_SHOWN = 20
DELETED_SHOWN = 10
# The change form with a "Connection history" link to the change sets of the hero or team.
HISTORY_LINK_CHANGE_FORM = "admin/heroes/changeset/change_form_with_history_link.html"


class AutocompleteMixin:
    """Autocomplete selects that label their chosen option without a query when they can."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget", Autocomplete(db_field, self.admin_site, using=kwargs.get("using"))
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class BigTableAdmin(AutocompleteMixin, BigTableMixin, admin.ModelAdmin):
    """Change lists that never count a whole big table and reject tampered selections."""


class DeletionSummary(list):
    """The objects a deletion lists (a few of them), with counts instead of every row."""

    def __init__(self, objects, total, heroes_losing_team=0):
        shown_objects = [str(obj) for obj in objects[:DELETED_SHOWN]]
        if total > len(shown_objects):
            shown_objects.append(f"…and {total - len(shown_objects)} more")
        super().__init__(shown_objects)
        self.heroes_losing_team = heroes_losing_team


def _memberships_permission(request) -> set[str]:
    """The models a deletion needs a permission for that the user lacks."""
    if request.user.has_perm("heroes.delete_heroteamlink"):
        return set()
    return {HeroTeamLink._meta.verbose_name_plural}


# Memberships as inlines, saved through the services ------------------------------------


def save_membership_formset(request, formset) -> list:
    """Apply a membership inline's changes with the services; return the statements they ran.

    A new row joins, a deleted row leaves, a row whose team or hero changed leaves the
    old pair and joins the new one, and a row whose is_training changed sets training.
    The formset's `new_objects`/`changed_objects`/`deleted_objects` are filled in as
    `formset.save()` would, for the admin's history message.
    """
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    heroes, teams = {}, {}
    for form in formset.initial_forms:
        heroes[form.initial["hero"]] = None
        teams[form.initial["team"]] = None
    if formset.initial_forms:
        heroes = Hero.objects.in_bulk(list(heroes))
        teams = Team.objects.in_bulk(list(teams))
    statements = []

    def run(service, **kwargs):
        try:
            statements.extend(service(**kwargs).statements)
        except ServiceError as error:
            messages.error(request, str(error))
            return False
        return True

    for form in formset.forms:
        existing = form in formset.initial_forms
        link = form.instance
        if existing:
            old_hero = heroes.get(form.initial["hero"])
            old_team = teams.get(form.initial["team"])
            if old_hero is None or old_team is None:
                continue  # deleted meanwhile
            if formset.can_delete and formset._should_delete_form(form):
                if run(services.leave_team, hero=old_hero, team=old_team):
                    formset.deleted_objects.append(link)
            elif form.has_changed():
                if (old_hero.pk, old_team.pk) != (link.hero_id, link.team_id):
                    done = run(services.leave_team, hero=old_hero, team=old_team) and run(
                        services.join_team,
                        hero=link.hero,
                        team=link.team,
                        training=link.is_training,
                    )
                else:
                    done = run(
                        services.set_training,
                        hero=link.hero,
                        team=link.team,
                        training=link.is_training,
                    )
                if done:
                    formset.changed_objects.append((link, form.changed_data))
        elif (
            form.has_changed()
            and not formset._should_delete_form(form)
            and run(services.join_team, hero=link.hero, team=link.team, training=link.is_training)
        ):
            formset.new_objects.append(link)
    return statements


class MembershipsSavedThroughServices:
    """For a ModelAdmin with membership inlines: save them through the services."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not HeroTeamLink:
            return super().save_formset(request, form, formset, change)
        _statements(request).extend(save_membership_formset(request, formset))

    def response_add(self, request, obj, post_url_continue=None):
        _remember(request)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        _remember(request)
        return super().response_change(request, obj)


def _statements(request) -> list:
    """The statements of this request's connection changes, for the SQL panel."""
    if not hasattr(request, "_heroes_statements"):
        request._heroes_statements = []
    return request._heroes_statements


def _remember(request) -> None:
    statements = shown(getattr(request, "_heroes_statements", []))
    if statements:
        remember_sql(request, statements)


class CompactInlineMixin:
    """Inline rows that stay small: a chooser without the add/change/view links beside it.

    Those links are a kilobyte per row, and the template's whitespace about as much: a
    team's inline of 20 members would weigh 70 KB. The row's own text (hero in team)
    names the object, and the hero or team is a click away on its own admin page.
    """

    template = "admin/heroes/edit_inline/tabular_compact.html"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        widget = getattr(formfield, "widget", None)
        if isinstance(widget, RelatedFieldWidgetWrapper):
            formfield.widget = widget.widget
        return formfield

    @admin.display(description="created at")
    def created(self, link):
        # A new row's created_at is the database default, not a value to show.
        return link.created_at if link.pk is not None else None


class MembershipFormSet(BaseInlineFormSet):
    """Membership rows whose hero and team selects are labelled from the rows fetched."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if form.instance.pk is not None:
            label_known_choices(form, form.instance, ["hero", "team"])
        return form


class HeroMembershipInline(CompactInlineMixin, AutocompleteMixin, admin.TabularInline):
    model = HeroTeamLink
    formset = MembershipFormSet
    fields = ["team", "is_training", "created"]
    readonly_fields = ["created"]
    autocomplete_fields = ["team"]
    extra = 1
    verbose_name_plural = "memberships"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("hero", "team").order_by("team__name")


class LimitedInlineFormSet(MembershipFormSet):
    """Only the first `MEMBERS_SHOWN` rows, by hero id; the rest by link.

    By hero id because the (team, hero) index gives that order: the first rows of a team
    of 100,000 members are an index range scan. Ordered by the link's id, PostgreSQL
    walks the primary key past every other team's links instead (half a second); and
    joined to the heroes directly, it may merge-join along the heroes' primary key
    (a tenth of a second), so the rows are chosen first and joined after.
    """

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            links = super().get_queryset().order_by("hero_id")
            first = links.values("pk")[:MEMBERS_SHOWN]
            self._queryset = links.filter(pk__in=first)
        return self._queryset


class TeamMemberInline(CompactInlineMixin, AutocompleteMixin, admin.TabularInline):
    model = HeroTeamLink
    formset = LimitedInlineFormSet
    fields = ["hero", "is_training", "created"]
    readonly_fields = ["created"]
    autocomplete_fields = ["hero"]
    extra = 1
    verbose_name_plural = f"members (the first {MEMBERS_SHOWN})"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("hero", "team")


# Teams -------------------------------------------------------------------------------


@admin.register(Team)
class TeamAdmin(MembershipsSavedThroughServices, BigTableAdmin):
    list_display = ["name", "headquarters"]
    search_fields = ["name"]
    ordering = ["name"]
    fields = ["name", "headquarters", "connections"]
    readonly_fields = ["connections"]
    inlines = [TeamMemberInline]
    change_form_template = HISTORY_LINK_CHANGE_FORM

    @admin.display(description="heroes and members")
    def connections(self, team):
        if team.pk is None:
            return "-"
        heroes = Hero.objects.filter(team=team).count()
        members = HeroTeamLink.objects.filter(team=team).count()
        heroes_url = reverse("admin:heroes_hero_changelist") + f"?team={team.pk}"
        members_url = reverse("admin:heroes_heroteamlink_changelist") + f"?team={team.pk}"
        return format_html(
            '<a href="{}">{} heroes</a> have this team; <a href="{}">{} memberships</a> '
            "(the first {} are listed below).",
            heroes_url,
            heroes,
            members_url,
            members,
            min(members, MEMBERS_SHOWN),
        )

    def get_deleted_objects(self, objs, request):
        """Counts, not lists: heroes that lose this team and memberships deleted with it."""
        teams = list(objs[: DELETED_SHOWN + 1]) if hasattr(objs, "query") else list(objs)
        total = objs.count() if hasattr(objs, "query") else len(teams)
        team_ids = objs.values("pk") if hasattr(objs, "query") else [team.pk for team in teams]
        heroes = Hero.objects.filter(team__in=team_ids).count()
        links = HeroTeamLink.objects.filter(team__in=team_ids).count()
        model_count = {Team._meta.verbose_name_plural: total}
        if links:
            model_count[HeroTeamLink._meta.verbose_name_plural] = links
        perms_needed = _memberships_permission(request) if links else set()
        return DeletionSummary(teams, total, heroes), model_count, perms_needed, []


# Heroes ------------------------------------------------------------------------------


class PageOfHeroes(Sequence):
    """A page of heroes, each with `membership_names`; read on first use, in two queries.

    The memberships column needs a name and a flag per membership: one query of tuples,
    rather than prefetch_related's model instances and a queryset per hero. Lazy, as a
    QuerySet is, so that a change list built only to run an action reads no page.
    """

    def __init__(self, heroes):
        self.heroes = heroes

    @cached_property
    def rows(self) -> list[Hero]:
        heroes = list(self.heroes)
        names = {hero.pk: [] for hero in heroes}
        if names:
            # Each team's name by a subquery (a primary key lookup per link) rather than a
            # join, which PostgreSQL answers by hashing the whole team table (10,000 rows,
            # several milliseconds) for a page's few dozen links.
            team = Team.objects.filter(pk=OuterRef("team_id")).order_by().values("name")
            links = (
                HeroTeamLink.objects.filter(hero__in=list(names))
                .annotate(team_name=Subquery(team))
                .order_by("team_name")
                .values_list("hero_id", "team_name", "is_training")
            )
            for hero_id, team, training in links:
                names[hero_id].append(f"{team} (training)" if training else team)
        for hero in heroes:
            hero.membership_names = names[hero.pk]
        return heroes

    def __getitem__(self, index):
        return self.rows[index]

    def __len__(self):
        return len(self.rows)


class HeroChangeList(BigTableChangeList):
    """Each row's team and memberships, whatever the page size: two queries."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).with_team()

    def get_results(self, request):
        super().get_results(request)
        self.result_list = PageOfHeroes(self.result_list)


@admin.action(description="Assign a team to the selected heroes", permissions=["change"])
def assign_team(modeladmin, request, queryset):
    """Choose a team, preview, then set it as the team of every selected hero."""
    return confirm_bulk_change(ASSIGN_TEAM, modeladmin, request, queryset)


@admin.action(description="Clear the team of the selected heroes", permissions=["change"])
def clear_team(modeladmin, request, queryset):
    """Preview, then set the team of every selected hero to none."""
    return confirm_bulk_change(CLEAR_TEAM, modeladmin, request, queryset)


@admin.action(description="Add the selected heroes to a team", permissions=["join"])
def add_to_team(modeladmin, request, queryset):
    """Choose a team (and whether as trainees), preview, then add every selected hero."""
    return confirm_bulk_change(JOIN_TEAM, modeladmin, request, queryset)


@admin.action(description="Remove the selected heroes from a team", permissions=["leave"])
def remove_from_team(modeladmin, request, queryset):
    """Choose a team, preview, then remove every selected hero from it."""
    return confirm_bulk_change(LEAVE_TEAM, modeladmin, request, queryset)


@admin.action(
    description="Toggle the selected heroes' membership of a team", permissions=["toggle"]
)
def toggle_membership(modeladmin, request, queryset):
    """Choose a team, preview, then make the members leave it and the others join."""
    return confirm_bulk_change(TOGGLE_MEMBERSHIP, modeladmin, request, queryset)


@admin.register(Hero)
class HeroAdmin(MembershipsSavedThroughServices, BigTableAdmin):
    list_display = ["id", "name", "secret_name", "age", "team", "memberships"]
    list_display_links = ["id", "name"]
    list_select_related = ["team"]
    list_filter = [TeamFilter, MembershipFilter]
    search_fields = ["name", "secret_name"]
    search_help_text = "Heroes whose name or secret name contains the text."
    # Sorting by a column without an index would sort the whole table on every page.
    sortable_by = ["id", "name", "age"]
    fields = ["name", "secret_name", "age", "team"]
    autocomplete_fields = ["team"]
    inlines = [HeroMembershipInline]
    change_form_template = HISTORY_LINK_CHANGE_FORM
    actions = [assign_team, clear_team, add_to_team, remove_from_team, toggle_membership]
    # Kept by migration 0008's triggers: the exact number of heroes and deep pages found
    # without walking the heroes before them.
    id_blocks = IdBlocks(Hero, "hero_id_block")

    def get_changelist(self, request, **kwargs):
        return HeroChangeList

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        label_known_choices(context["adminform"].form, obj, ["team"])
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="memberships")
    def memberships(self, hero):
        # Filled in for the page by HeroChangeList.get_results.
        return ", ".join(hero.membership_names) or None

    # Membership actions need the membership model's permissions (the contract's).
    def has_join_permission(self, request):
        return request.user.has_perm("heroes.add_heroteamlink")

    def has_leave_permission(self, request):
        return request.user.has_perm("heroes.delete_heroteamlink")

    def has_toggle_permission(self, request):
        return self.has_join_permission(request) and self.has_leave_permission(request)

    def save_model(self, request, obj, form, change):
        """Save the hero's own fields; a change of its team goes through the services."""
        team = obj.team
        with sql.capture() as statements:
            if change:
                fields = [name for name in form.changed_data if name != "team"]
                if fields:
                    obj.save(update_fields=fields)
            else:
                obj.team = None
                obj.save()
            if "team" in form.changed_data:
                try:
                    if team is None:
                        services.clear_team(hero=obj)
                    else:
                        services.assign_team(hero=obj, team=team)
                except ServiceError as error:
                    messages.error(request, str(error))
                else:
                    obj.team = team
        _statements(request).extend(statements)

    def get_deleted_objects(self, objs, request):
        """Counts, not lists: the heroes and the memberships deleted with them."""
        if not hasattr(objs, "query"):
            objs = Hero.objects.filter(pk__in=[hero.pk for hero in objs])
        heroes = list(objs.order_by("pk")[: DELETED_SHOWN + 1])
        total = objs.count()
        links = HeroTeamLink.objects.filter(hero__in=objs.order_by().values("pk")).count()
        model_count = {Hero._meta.verbose_name_plural: total}
        if links:
            model_count[HeroTeamLink._meta.verbose_name_plural] = links
        perms_needed = _memberships_permission(request) if links else set()
        return DeletionSummary(heroes, total), model_count, perms_needed, []


# Memberships -------------------------------------------------------------------------


@admin.register(HeroTeamLink)
class HeroTeamLinkAdmin(BigTableAdmin):
    list_display = ["hero", "team", "is_training", "created_at"]
    list_select_related = ["hero", "team"]
    list_filter = [LinkTeamFilter, "is_training"]
    search_fields = ["hero__name"]
    search_help_text = "Memberships of heroes whose name contains the text."
    sortable_by = ["is_training"]
    fields = ["hero", "team", "is_training", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["hero", "team"]
    # Deleting memberships in bulk is the heroes' "Remove from a team" action (one service call).
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("hero", "team")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        label_known_choices(context["adminform"].form, obj, ["hero", "team"])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        """Join, leave and set training through the services, never by saving the row."""
        with sql.capture() as statements:
            try:
                if not change:
                    services.join_team(hero=obj.hero, team=obj.team, training=obj.is_training)
                elif {"hero", "team"} & set(form.changed_data):
                    old = HeroTeamLink.objects.select_related("hero", "team").get(pk=obj.pk)
                    services.leave_team(hero=old.hero, team=old.team)
                    services.join_team(hero=obj.hero, team=obj.team, training=obj.is_training)
                elif "is_training" in form.changed_data:
                    services.set_training(hero=obj.hero, team=obj.team, training=obj.is_training)
            except ServiceError as error:
                messages.error(request, str(error))
        link = HeroTeamLink.objects.filter(hero=obj.hero, team=obj.team).first()
        if link is not None:
            obj.pk, obj.created_at = link.pk, link.created_at
        remember_sql(request, shown(statements))

    def delete_model(self, request, obj):
        with sql.capture() as statements:
            services.leave_team(hero=obj.hero, team=obj.team)
        remember_sql(request, shown(statements))
