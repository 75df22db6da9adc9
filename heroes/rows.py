"""Cheap rows for the staff pages' long lists: plain values, links formatted, not reversed.

A page of 50 heroes shows some 200 links. Reading them as model instances through a
prefetch (about 300 instances) and writing each link with `{% url %}` (a reverse() costs
50-90 µs) cost many times what the page's SQL does. The lists read plain values
(`values()` / `values_list()`) and build their links from one reverse() per page.
"""

import functools
import itertools
from dataclasses import dataclass
from operator import itemgetter

from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import HeroTeamLink

# An id no URL pattern of ours contains elsewhere: reverse() it once, then format.
_MARKER = 8_642_097_531


def url_format(name: str) -> str:
    """The URL of the view `name` taking one id, as a `str.format` pattern ("/heroes/{}/").

    Reversed once per process for each URL configuration and script prefix in use.
    """
    return _url_format(name, get_urlconf(), get_script_prefix())


@functools.lru_cache(maxsize=128)
def _url_format(name: str, urlconf, prefix: str) -> str:
    return reverse(name, args=[_MARKER], urlconf=urlconf).replace(str(_MARKER), "{}")


def membership_links(hero_ids) -> dict[int, SafeString]:
    """Each hero's teams as links ("Preventers (training), Z-Force"), by team name, in one
    query; heroes without a membership are left out."""
    links = (
        HeroTeamLink.objects.filter(hero_id__in=hero_ids)
        .order_by("hero_id", "team__name")
        .values_list("hero_id", "team_id", "team__name", "is_training")
    )
    team_url = url_format("heroes:team_detail")
    # What format_html_join would build, with one escape() per link instead of three
    # (a tenth of the page's time with 150 links).
    return {
        hero_id: mark_safe(  # noqa: S308 -- the only text in it, the names, is escaped
            ", ".join(
                f'<a href="{team_url.format(team_id)}">{escape(name)}</a>'
                + (" (training)" if training else "")
                for _, team_id, name, training in group
            )
        )
        for hero_id, group in itertools.groupby(links, key=itemgetter(0))
    }


HERO_FIELDS = ("id", "name", "secret_name", "age", "team_id", "team__name")


def hero_rows(heroes: list[dict]) -> list[dict]:
    """`heroes` (dicts of HERO_FIELDS) with `url`, `team_url` and `memberships` (HTML)."""
    hero_url, team_url = url_format("heroes:hero_detail"), url_format("heroes:team_detail")
    memberships = membership_links([hero["id"] for hero in heroes])
    return [
        hero
        | {
            "url": hero_url.format(hero["id"]),
            "team_url": team_url.format(hero["team_id"]) if hero["team_id"] else None,
            "memberships": memberships.get(hero["id"]),
        }
        for hero in heroes
    ]


NOT_A_MEMBER = (
    '<span aria-hidden="true">&ndash;</span><span class="visually-hidden">Not a member</span>'
)


@dataclass(frozen=True, slots=True)
class GridCell:
    """One pair of the memberships grid, as its `<td>`: the membership and a button that
    posts the change it asks for as `cell`, "<join|leave> <hero id> <team id>".

    The grid's 160 cells are written here rather than by the template, which took ten
    times as long for them as for the rest of the page. `hero_name` and `team_name` come
    escaped (once per row and column, not once per cell); `training` is None when the
    hero is not a member.
    """

    hero_id: int
    hero_name: SafeString
    team_id: int
    team_name: SafeString
    training: bool | None
    can_toggle: bool

    def __str__(self) -> SafeString:
        # The template engine renders str(cell); a SafeString is not escaped again.
        return mark_safe(self.__html__())  # noqa: S308 -- the names come escaped

    def __html__(self) -> str:
        member = self.training is not None
        css = (
            "cell is-member is-training"
            if self.training
            else "cell is-member"
            if member
            else "cell"
        )
        state = "Training" if self.training else "Member" if member else NOT_A_MEMBER
        button = ""
        if self.can_toggle:
            action, style, verb, to = (
                ("leave", "danger", "Remove", "from")
                if member
                else ("join", "secondary", "Add", "to")
            )
            button = (
                f'<button type="submit" name="cell" value="{action} {self.hero_id} {self.team_id}"'
                f' class="cell-button {style}">{verb}<span class="visually-hidden">'
                f" {self.hero_name} {to} {self.team_name}</span></button>"
            )
        return (
            f'<td id="cell-{self.hero_id}-{self.team_id}" class="{css}">'
            f'<span class="cell-state">{state}</span>{button}</td>'
        )
