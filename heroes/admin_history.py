"""The admin for the connection history: change sets and their entries, read-only, and undo.

History is append-only: nothing here adds, edits or deletes a change set or an entry.
Built for a big history (1,000,000 change sets, bulk changes of 1,000,000 entries):
lists estimate their size instead of counting it, filters by user, hero and team take
an id and find it through a search box, a change set's page shows its first entries
and links to the rest, and a revert is one service call whatever the change's size.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from . import services
from .admin_actions import shown
from .admin_filters import SearchBoxListFilter
from .admin_pagination import BigTableMixin
from .history import ADD_LINK, CHANGE_HERO, CHANGE_LINK, DELETE_LINK, revert_permissions
from .models import ChangeSet, Hero, HeroChange, Team
from .panel import recorded_statements, remember_sql
from .services import ServiceError

Operation = ChangeSet.Operation

ENTRIES_SHOWN = 50
# The bulk action runs one service call per change set; more at once belongs in a command.
MAX_BULK_REVERTS = 100


def has_team_entries(change_set: ChangeSet) -> bool:
    """Whether `change_set` moved heroes between teams (one query, cached on the change set).

    Every change set's entries are of one kind (a service changes teams or
    memberships, never both, and a revert inverts one change set), so one entry says.
    """
    if not hasattr(change_set, "_has_team_entries"):
        kinds = change_set.entries.order_by().values_list("kind", flat=True)[:1]
        change_set._has_team_entries = HeroChange.Kind.TEAM in list(kinds)
    return change_set._has_team_entries


def can_revert(user, change_set: ChangeSet) -> bool:
    """Whether `user` may revert `change_set`; asks the database only when it must."""
    if not user.has_perms(revert_permissions(change_set.operation)):
        return False
    if change_set.operation != Operation.REVERT or user.has_perm(CHANGE_HERO):
        return True
    return not has_team_entries(change_set)


def can_revert_anything(user) -> bool:
    """Whether `user` holds a permission that reverts some change set."""
    return any(user.has_perm(perm) for perm in (CHANGE_HERO, ADD_LINK, DELETE_LINK, CHANGE_LINK))


# Filters -------------------------------------------------------------------------------


class SearchBoxFilter(SearchBoxListFilter):
    """Filter by one object given by id (`?hero=3`), found through a search box.

    Never lists every object: the sidebar shows "All", the object chosen, and up to
    `shown` objects matching the text typed in the box (`?hero_q=spider`). An id
    that cannot be one is the admin's "incorrect lookup" (the list with `?e=1`).
    """

    lookup_model: type
    shown = 10
    template = "admin/heroes/changeset/search_filter.html"

    def chosen_id(self) -> int | None:
        if self.value is None:
            return None
        try:
            return self.lookup_model._meta.pk.clean(self.value, None)
        except ValidationError:
            raise IncorrectLookupParameters(f"Unknown {self.title} {self.value!r}.") from None

    def queryset(self, request, queryset):
        chosen = self.chosen_id()
        return queryset if chosen is None else self.filter(queryset, chosen)

    def filter(self, queryset, pk):
        """Keep the rows about the object `pk`."""
        raise NotImplementedError

    def find(self, text) -> list:
        """Up to `shown` objects matching `text`."""
        raise NotImplementedError

    def label(self, obj) -> str:
        return str(obj)

    def choices(self, changelist):
        own = set(self.expected_parameters())
        self.hidden_params = {
            name: value for name, value in changelist.params.items() if name not in own
        }
        yield {
            "selected": self.value is None,
            "query_string": changelist.get_query_string(remove=list(own)),
            "display": "All",
        }
        chosen = self.chosen_id()
        found = []
        if self.search:
            found = list(self.find(self.search)[: self.shown])
            self.no_match = not found
        if chosen is not None and chosen not in {obj.pk for obj in found}:
            found = list(self.lookup_model._default_manager.filter(pk=chosen)) + found
        for obj in found:
            yield {
                "selected": obj.pk == chosen,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: obj.pk}, remove=list(own - {self.parameter_name})
                ),
                "display": self.label(obj),
            }


class HeroFilter(SearchBoxFilter):
    """Change sets in which a hero changed: `?hero=3`."""

    title = "hero"
    parameter_name = "hero"
    search_parameter = "hero_q"
    lookup_model = Hero

    def filter(self, queryset, pk):
        return queryset.for_hero(pk)

    def find(self, text):
        return Hero.objects.search(text)

    def label(self, hero):
        return f"{hero.name} (#{hero.pk})"  # names are not unique


class TeamFilter(SearchBoxFilter):
    """Change sets about a team: its memberships, or heroes moved in or out of it: `?team=2`."""

    title = "team"
    parameter_name = "team"
    search_parameter = "team_q"
    lookup_model = Team

    def filter(self, queryset, pk):
        return queryset.for_team(pk)

    def find(self, text):
        return Team.objects.search(text)


class UserFilter(SearchBoxFilter):
    """Change sets made by a user: `?user=5`."""

    title = "user"
    parameter_name = "user"
    search_parameter = "user_q"

    def __init__(self, *args, **kwargs):
        self.lookup_model = get_user_model()
        super().__init__(*args, **kwargs)

    def filter(self, queryset, pk):
        return queryset.filter(user_id=pk)

    def find(self, text):
        field = self.lookup_model.USERNAME_FIELD
        return self.lookup_model._default_manager.filter(**{f"{field}__icontains": text}).order_by(
            field
        )

    def label(self, user):
        return user.get_username()


class EntryHeroFilter(HeroFilter):
    """Entries of a hero: `?hero=3`."""

    def filter(self, queryset, pk):
        return queryset.filter(hero_id=pk)


class ChangeSetFilter(SearchBoxFilter):
    """Entries of a change set: `?change_set=5` (linked from the change set's page)."""

    title = "change"
    parameter_name = "change_set"
    lookup_model = ChangeSet

    def filter(self, queryset, pk):
        return queryset.filter(change_set_id=pk)

    def label(self, change_set):
        return f"#{change_set.pk}"


class DateFilter(admin.DateFieldListFilter):
    """By date (today, the past 7 days, this month, this year): links only, no query."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "date"


# Showing a change set ----------------------------------------------------------------


def state_after(entry: HeroChange) -> str:
    return _state(entry, after=True)


def state_before(entry: HeroChange) -> str:
    return _state(entry, after=False)


def _state(entry: HeroChange, *, after: bool) -> str:
    """A hero's team or membership before or after `entry`'s change, in words."""
    if entry.kind == HeroChange.Kind.TEAM:
        team = entry.team_after if after else entry.team_before
        return f"team {team.name}" if team is not None else "no team"
    team = entry.team.name if entry.team_id else "a deleted team"
    member = entry.member_after if after else entry.member_before
    training = entry.training_after if after else entry.training_before
    if not member:
        return f"not a member of {team}"
    return f"member of {team}{' (training)' if training else ''}"


def change_set_link(change_set_id) -> str:
    url = reverse("admin:heroes_changeset_change", args=[change_set_id])
    return format_html('<a href="{}">#{}</a>', url, change_set_id)


def hero_link(entry: HeroChange) -> str:
    """The entry's hero, linked to its change form (without a query), or its name if deleted."""
    if entry.hero_id is None:
        return format_html("{} (deleted)", entry.hero_name)
    url = reverse("admin:heroes_hero_change", args=[entry.hero_id])
    return format_html('<a href="{}">{}</a> (#{})', url, entry.hero_name, entry.hero_id)


class FirstEntriesFormSet(BaseInlineFormSet):
    """Only the first `ENTRIES_SHOWN` entries, by id; the change set's page links to the rest."""

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset().order_by("pk")[:ENTRIES_SHOWN]
        return self._queryset


class EntryInline(admin.TabularInline):
    model = HeroChange
    formset = FirstEntriesFormSet
    fields = ["hero_link", "kind", "change"]
    readonly_fields = ["hero_link", "kind", "change", "revert_hero"]
    verbose_name = "entry"
    verbose_name_plural = f"entries (the first {ENTRIES_SHOWN}, by id)"
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team", "team_before", "team_after")

    def get_fields(self, request, obj=None):
        fields = list(self.fields)
        # Reverting one hero's part only makes sense when there are others.
        if obj is not None and obj.heroes_changed > 1 and can_revert(request.user, obj):
            fields.append("revert_hero")
        return fields

    # The entries are part of the change set: seen with it, never edited.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("heroes.view_changeset")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="hero")
    def hero_link(self, entry):
        return hero_link(entry)

    @admin.display(description="change")
    def change(self, entry):
        return entry.describe()

    @admin.display(description="revert")
    def revert_hero(self, entry):
        if entry.hero_id is None:
            return "-"
        url = reverse("admin:heroes_changeset_revert", args=[entry.change_set_id])
        return format_html(
            '<a href="{}?hero={}">Revert for {}</a>', url, entry.hero_id, entry.hero_name
        )


# Reverting ---------------------------------------------------------------------------


def _revert_one(modeladmin, request, change_set, hero=None) -> services.Result | None:
    """Revert `change_set` (or its part about `hero`) and report it; None if refused."""
    try:
        result = services.revert_change_set(change_set=change_set, hero=hero)
    except ServiceError as error:
        modeladmin.message_user(request, str(error), messages.ERROR)
        return None
    modeladmin.message_user(request, result.message, messages.SUCCESS)
    return result


@admin.action(description="Revert selected changes", permissions=["revert"])
def revert_selected(modeladmin, request, queryset):
    """Confirm, then revert each selected change set, newest first, one service call each.

    Newest first, so that of two changes to the same hero the later one is put back
    before the earlier one is checked. A change set that is refused (no permission,
    or its data has changed since) is reported and the others are still reverted.
    """
    change_sets = list(
        queryset.select_related("team").order_by("-created_at", "-pk")[: MAX_BULK_REVERTS + 1]
    )
    if len(change_sets) > MAX_BULK_REVERTS:
        modeladmin.message_user(
            request,
            f"Select at most {MAX_BULK_REVERTS} changes to revert at a time. "
            "Nothing has been changed.",
            messages.ERROR,
        )
        return None

    if request.POST.get("post") == "yes":
        statements = []
        for change_set in change_sets:
            if not can_revert(request.user, change_set):
                modeladmin.message_user(
                    request,
                    f"You do not have permission to revert change #{change_set.pk}.",
                    messages.ERROR,
                )
                continue
            result = _revert_one(modeladmin, request, change_set)
            if result is not None:
                statements.extend(result.statements)
        if statements:
            remember_sql(request, shown(statements))
        return None

    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Are you sure?",
        "subtitle": None,
        "opts": modeladmin.opts,
        "change_sets": change_sets,
        "count": len(change_sets),
        "refused": [cs for cs in change_sets if not can_revert(request.user, cs)],
        "action_name": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "media": modeladmin.media,
    }
    return TemplateResponse(
        request, "admin/heroes/changeset/revert_selected_confirmation.html", context
    )


# The admin ---------------------------------------------------------------------------


class ReadOnlyAdmin(BigTableMixin, admin.ModelAdmin):
    """History is append-only: viewed with the view permission, never added, changed or deleted.

    Its lists never count a whole big table (the estimating paginator).
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChangeSet)
class ChangeSetAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "when",
        "actor",
        "source",
        "operation",
        "team",
        "message",
        "heroes_changed",
        "reverts_or_reverted_by",
    ]
    list_display_links = ["id", "when"]
    list_select_related = ["team"]
    # Users: a search box, as for heroes and teams; RelatedOnlyFieldListFilter would
    # run SELECT DISTINCT user_id over every change set on each page. Dates: a date
    # filter costs no query; date_hierarchy would list the dates of all change sets.
    list_filter = [
        "source",
        "operation",
        ("created_at", DateFilter),
        UserFilter,
        HeroFilter,
        TeamFilter,
    ]
    search_fields = ["message", "actor"]
    search_help_text = "Changes whose message or actor contains the text."
    # Sorting by a column without an index would sort the whole history on every page.
    sortable_by = ["id", "when"]
    actions = [revert_selected]
    inlines = [EntryInline]
    fieldsets = [
        ("Who, when and where", {"fields": ["created_at", "who", "source"]}),
        (
            "What",
            {
                "fields": [
                    "operation",
                    "team",
                    "message",
                    "heroes_changed",
                    "reverts_or_reverted_by",
                ]
            },
        ),
    ]
    readonly_fields = [
        "created_at",
        "who",
        "source",
        "operation",
        "team",
        "message",
        "heroes_changed",
        "reverts_or_reverted_by",
    ]

    def get_queryset(self, request):
        """Each change set with its team and its latest revert (`reverted_by_id`)."""
        reverts = ChangeSet.objects.filter(reverts=OuterRef("pk")).order_by("-pk").values("pk")
        return (
            super()
            .get_queryset(request)
            .select_related("team")
            .annotate(reverted_by_id=Subquery(reverts[:1]))
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        revert = path(
            "<path:object_id>/revert/",
            self.admin_site.admin_view(self.revert_view),
            name="{}_{}_revert".format(*info),
        )
        return [revert, *super().get_urls()]

    def has_revert_permission(self, request):
        return can_revert_anything(request.user)

    @admin.display(description="when", ordering="created_at")
    def when(self, change_set):
        return change_set.created_at

    @admin.display(description="who")
    def who(self, change_set):
        if change_set.user_id is None:
            return change_set.actor
        url = reverse("admin:auth_user_change", args=[change_set.user_id])
        return format_html('<a href="{}">{}</a>', url, change_set.actor)

    @admin.display(description="reverts / reverted by")
    def reverts_or_reverted_by(self, change_set):
        parts = []
        if change_set.reverts_id is not None:
            parts.append(("reverts", change_set_link(change_set.reverts_id)))
        if getattr(change_set, "reverted_by_id", None) is not None:
            parts.append(("reverted by", change_set_link(change_set.reverted_by_id)))
        return format_html_join("; ", "{} {}", parts) or self.get_empty_value_display()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            entries_url = reverse("admin:heroes_herochange_changelist")
            context.update(
                sql_statements=recorded_statements(obj.sql),
                can_revert=can_revert(request.user, obj),
                revert_url=reverse("admin:heroes_changeset_revert", args=[obj.pk]),
                entries_shown=min(obj.heroes_changed, ENTRIES_SHOWN),
                entries_url=f"{entries_url}?change_set={obj.pk}",
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def revert_view(self, request, object_id):
        """Confirm, then (POST with `post=yes`) revert the change set, or its part about `?hero=`.

        The confirmation lists the first entries it puts back; the revert is one service
        call, reported with its message and SQL on the page of the change set it records.
        """
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        change_set = self.get_object(request, unquote(object_id))
        if change_set is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not can_revert(request.user, change_set):
            raise PermissionDenied
        change_url = reverse("admin:heroes_changeset_change", args=[change_set.pk])

        hero_entry = None
        raw_hero = (request.POST if request.method == "POST" else request.GET).get("hero", "")
        if raw_hero:
            try:
                hero_id = Hero._meta.pk.clean(raw_hero, None)
            except ValidationError:
                return self._refuse(request, change_url, f"“{raw_hero}” is not a hero id.")
            hero_entry = (
                change_set.entries.filter(hero_id=hero_id)
                .select_related("hero", "team", "team_before", "team_after")
                .first()
            )
            if hero_entry is None:
                return self._refuse(
                    request, change_url, f"Hero #{hero_id} has no part in change #{change_set.pk}."
                )

        if request.method == "POST" and request.POST.get("post") == "yes":
            hero = hero_entry.hero if hero_entry is not None else None
            result = _revert_one(self, request, change_set, hero)
            if result is None:
                return HttpResponseRedirect(change_url)
            remember_sql(request, shown(result.statements))
            return HttpResponseRedirect(
                reverse("admin:heroes_changeset_change", args=[result.change_set.pk])
            )

        if hero_entry is not None:
            entries, total = [hero_entry], 1
        else:
            entries = list(
                change_set.entries.select_related("team", "team_before", "team_after").order_by(
                    "pk"
                )[:ENTRIES_SHOWN]
            )
            total = max(change_set.heroes_changed, len(entries))
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": "Are you sure?",
            "subtitle": None,
            "opts": self.opts,
            "object": change_set,
            "hero_entry": hero_entry,
            "rows": [(entry, state_after(entry), state_before(entry)) for entry in entries],
            "more": total - len(entries),
            "media": self.media,
        }
        return TemplateResponse(request, "admin/heroes/changeset/revert_confirmation.html", context)

    def _refuse(self, request, url, reason):
        self.message_user(request, f"{reason} Nothing has been changed.", messages.ERROR)
        return HttpResponseRedirect(url)


@admin.register(HeroChange)
class HeroChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "change_set_link", "hero_link", "kind", "change"]
    list_select_related = ["team", "team_before", "team_after"]
    list_filter = [ChangeSetFilter, EntryHeroFilter, "kind"]
    search_fields = ["hero_name"]
    search_help_text = "Entries of heroes whose name contains the text."
    sortable_by = ["id"]
    fields = ["change_set_link", "hero_link", "kind", "change"]
    readonly_fields = fields
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team", "team_before", "team_after")

    def has_view_permission(self, request, obj=None):
        # An entry is part of a change set: whoever sees change sets sees their entries.
        return super().has_view_permission(request, obj) or request.user.has_perm(
            "heroes.view_changeset"
        )

    @admin.display(description="change set")
    def change_set_link(self, entry):
        return change_set_link(entry.change_set_id)

    @admin.display(description="hero")
    def hero_link(self, entry):
        return hero_link(entry)

    @admin.display(description="change")
    def change(self, entry):
        return entry.describe()
