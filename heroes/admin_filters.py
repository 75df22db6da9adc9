"""Change list filters by team that stay small with 10,000 teams: a search box, not a list."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Exists, OuterRef

from .models import HeroTeamLink, Team


class SearchBoxListFilter(admin.ListFilter):
    """A filter on one object given by id (`parameter_name`), found through a search box
    (`search_parameter`, optional): the parameters, the chosen value and the text typed."""

    parameter_name: str
    search_parameter: str | None = None

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.expected_parameters():
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        self.hidden_params = {}
        self.no_match = False

    @property
    def value(self) -> str | None:
        return self.used_parameters.get(self.parameter_name)

    @property
    def search(self) -> str:
        if self.search_parameter is None:
            return ""
        return self.used_parameters.get(self.search_parameter, "").strip()

    def has_output(self):
        return True

    def expected_parameters(self):
        return [name for name in (self.parameter_name, self.search_parameter) if name]


class TeamFilter(SearchBoxListFilter):
    """Filter by one team, found through a search box; never lists every team.

    The sidebar shows "All", the empty choices ("No team", "Any team"), the team
    currently chosen, and up to `shown` teams whose name contains the search text.
    Two query parameters: `parameter_name` (a team id, "none" or "any") and
    `search_parameter` (the text typed into the box).
    """

    title = "team"
    parameter_name = "team"
    search_parameter = "team_q"
    field_path = "team"
    none_label = "No team"
    any_label = "Any team"
    with_empty_choices = True
    shown = 10
    template = "admin/heroes/team_filter.html"

    def team_id(self) -> int | None:
        if self.value in (None, "none", "any"):
            return None
        try:
            return int(self.value)
        except ValueError:
            raise IncorrectLookupParameters(f"Unknown team {self.value!r}.") from None

    def queryset(self, request, queryset):
        if self.value == "none" and self.with_empty_choices:
            return self.without_team(queryset)
        if self.value == "any" and self.with_empty_choices:
            return self.without_team(queryset, negate=True)
        team_id = self.team_id()
        if team_id is None:
            return queryset
        return queryset.filter(**{self.field_path: team_id})

    def without_team(self, queryset, negate=False):
        lookup = {f"{self.field_path}__isnull": not negate}
        return queryset.filter(**lookup)

    def choices(self, changelist):
        self.hidden_params = {
            name: value
            for name, value in changelist.params.items()
            if name not in {self.parameter_name, self.search_parameter}
        }
        remove = [self.parameter_name, self.search_parameter]
        yield {
            "selected": self.value is None,
            "query_string": changelist.get_query_string(remove=remove),
            "display": "All",
        }
        if self.with_empty_choices:
            for value, label in (("none", self.none_label), ("any", self.any_label)):
                yield {
                    "selected": self.value == value,
                    "query_string": changelist.get_query_string(
                        {self.parameter_name: value}, remove=[self.search_parameter]
                    ),
                    "display": label,
                }
        team_id = self.team_id()
        teams = []
        if self.search:
            teams = list(Team.objects.filter(name__icontains=self.search)[: self.shown])
            self.no_match = not teams
        if team_id is not None and team_id not in {team.pk for team in teams}:
            teams = list(Team.objects.filter(pk=team_id)) + teams
        for team in teams:
            yield {
                "selected": team.pk == team_id,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: team.pk}, remove=[self.search_parameter]
                ),
                "display": team.name,
            }


class MembershipFilter(TeamFilter):
    """Filter heroes by a team they are a member of (or by having no membership)."""

    title = "membership"
    parameter_name = "member_of"
    search_parameter = "member_of_q"
    field_path = "team_links__team"
    none_label = "No membership"
    any_label = "Any membership"

    def without_team(self, queryset, negate=False):
        links = Exists(HeroTeamLink.objects.filter(hero=OuterRef("pk")))
        return queryset.filter(links if negate else ~links)


class LinkTeamFilter(TeamFilter):
    """Filter memberships by team."""

    with_empty_choices = False
