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
from django.utils import timezone
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


# The rows of the hero and team pages' tables with buttons. Each button submits one of
# the page's hidden forms (form="...", see _row_form.html) with its own `team`, and on
# the team page its hero's URL (formaction). Written here for the reason GridCell is: a
# hero with 34 memberships took the template three times as long as the rest of the page.


def _button(form: str, team_id, label: str, style: str = "", url: str = "") -> str:
    attributes = f' class="{style}"' if style else ""
    if url:
        attributes = f' formaction="{url}"{attributes}'
    return (
        f'<button type="submit" form="{form}"{attributes} name="team" value="{team_id}">'
        f"{label}</button>"
    )


def _since(moment) -> str:
    return f"<time>{timezone.localtime(moment):%Y-%m-%d}</time>"


def _membership_row(link: str, training: bool, since, buttons: list[str], changes: bool) -> str:
    role = "Training" if training else "Full member"
    row = f'<tr><th scope="row">{link}</th><td>{role}</td><td>{_since(since)}</td>'
    if changes:
        row += f'<td><div class="actions">{"".join(buttons)}</div></td>'
    return row + "</tr>"


def hero_membership_rows(memberships, can: dict) -> list[SafeString]:
    """The hero page's memberships (dicts of team_id, team__name, is_training, created_at),
    with Leave and training buttons as `can` allows."""
    team_url = url_format("heroes:team_detail")
    rows = []
    for link in memberships:
        team_id, name = link["team_id"], escape(link["team__name"])
        buttons = []
        if can["leave"]:
            buttons.append(_button("leave-team", team_id, f"Leave {name}", "secondary"))
        if can["train"]:
            if link["is_training"]:
                form, label = "end-training", f"Make full member of {name}"
            else:
                form, label = "start-training", f"Mark as training in {name}"
            buttons.append(_button(form, team_id, label, "secondary"))
        anchor = f'<a href="{team_url.format(team_id)}">{name}</a>'
        changes = can["leave"] or can["train"]
        row = _membership_row(anchor, link["is_training"], link["created_at"], buttons, changes)
        rows.append(mark_safe(row))  # noqa: S308 -- names escaped above
    return rows


def team_member_rows(links, team, can: dict) -> list[SafeString]:
    """The team page's members (HeroTeamLink with their heroes), with Remove and training
    buttons as `can` allows."""
    hero_url, membership_url, training_url = (
        url_format("heroes:hero_detail"),
        url_format("heroes:hero_membership"),
        url_format("heroes:hero_training"),
    )
    team_name = escape(team.name)
    rows = []
    for link in links:
        hero_id, name = link.hero_id, escape(link.hero.name)
        buttons = []
        if can["leave"]:
            label = f"Remove {name} from {team_name}"
            url = membership_url.format(hero_id)
            buttons.append(_button("remove-member", team.pk, label, "secondary", url))
        if can["train"]:
            if link.is_training:
                form, label = "end-training", f"Make {name} a full member"
            else:
                form, label = "start-training", f"Mark {name} as training"
            buttons.append(_button(form, team.pk, label, "secondary", training_url.format(hero_id)))
        anchor = f'<a href="{hero_url.format(hero_id)}">{name}</a>'
        changes = can["leave"] or can["train"]
        row = _membership_row(anchor, link.is_training, link.created_at, buttons, changes)
        rows.append(mark_safe(row))  # noqa: S308 -- names escaped above
    return rows


def team_choice_rows(teams, hero, can: dict) -> list[SafeString]:
    """The hero page's teams to choose from (annotated with is_member and is_trainee):
    Assign and Join buttons as `can` allows, or what the hero already is."""
    team_url = url_format("heroes:team_detail")
    hero_name = escape(hero.name)
    rows = []
    for team in teams:
        name = escape(team.name)
        if team.pk == hero.team_id:
            current = "Current team"
        elif can["assign"]:
            current = _button("assign-team", team.pk, f"Assign to {name}")
        else:
            current = f'<span class="null">not {hero_name}\'s team</span>'
        if team.is_member:
            membership = "Training" if team.is_trainee else "Full member"
        elif can["join"]:
            membership = _button("join-team", team.pk, f"Join {name}", "secondary")
        else:
            membership = '<span class="null">not a member</span>'
        rows.append(
            mark_safe(  # noqa: S308 -- names escaped above
                f'<tr><th scope="row"><a href="{team_url.format(team.pk)}">{name}</a></th>'
                f"<td>{escape(team.headquarters)}</td><td>{current}</td><td>{membership}</td></tr>"
            )
        )
    return rows
