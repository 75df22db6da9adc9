"""Forms of the staff pages: the filters they read (GET) and the changes they post.

The change forms are never rendered by Django (the templates write each button by
hand, one per team or hero); they validate what comes back. Their ids are hidden
fields whose errors speak to people, and each carries the state the page showed
(`expected_team`, `action`, `training`) so that a stale page changes nothing.
"""

import datetime

from django import forms
from django.db.models import Q
from django.utils import timezone

from .models import ChangeSet, Hero, Team

INCOMPLETE = "This form is incomplete or out of date: reload the page and try again."

# Team choices offered when a team filter's text matches several teams.
TEAM_CHOICES = 20


class TeamField(forms.ModelChoiceField):
    """A team posted by id; no select of every team is ever rendered."""

    widget = forms.HiddenInput
    default_error_messages = {
        "required": "Choose a team.",
        "invalid_choice": "That team does not exist: it may have been deleted.",
    }

    def __init__(self, **kwargs):
        super().__init__(queryset=Team.objects.all(), **kwargs)


class HeroField(forms.ModelChoiceField):
    """A hero posted by id."""

    widget = forms.HiddenInput
    default_error_messages = {
        "required": "Choose a hero.",
        "invalid_choice": "That hero does not exist: it may have been deleted.",
    }

    def __init__(self, **kwargs):
        super().__init__(queryset=Hero.objects.all(), **kwargs)


class ActionField(forms.ChoiceField):
    """What a membership button means to do, so that a stale one cannot undo a newer change."""

    widget = forms.HiddenInput
    default_error_messages = {
        "required": "Choose whether to join or leave.",
        "invalid_choice": "Choose whether to join or leave.",
    }

    def __init__(self, **kwargs):
        super().__init__(choices=[("join", "Join"), ("leave", "Leave")], **kwargs)


class ExpectedTeamForm(forms.Form):
    """Carries the hero's team as the page showed it: a team id, or empty for no team."""

    expected_team = forms.IntegerField(
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"invalid": INCOMPLETE, "min_value": INCOMPLETE},
    )

    def clean(self):
        # An empty value means "no team"; a missing one means the form is not ours.
        if "expected_team" not in self.data:
            self.add_error("expected_team", INCOMPLETE)
        return super().clean()


class AssignTeamForm(ExpectedTeamForm):
    team = TeamField()


class ClearTeamForm(ExpectedTeamForm):
    pass


class MembershipForm(forms.Form):
    """Join or leave one team (the hero is in the URL)."""

    team = TeamField()
    action = ActionField()


class TrainingForm(forms.Form):
    """Set is_training on the hero's membership of a team to the value posted."""

    team = TeamField()
    training = forms.TypedChoiceField(
        choices=[("1", "Training"), ("0", "Full member")],
        coerce=lambda value: value == "1",
        widget=forms.HiddenInput,
        error_messages={"required": INCOMPLETE, "invalid_choice": INCOMPLETE},
    )


class ToggleForm(forms.Form):
    """One cell of the memberships grid: a hero, a team and what the cell meant to do."""

    hero = HeroField()
    team = TeamField()
    action = ActionField()


class HeroFilterForm(forms.Form):
    """The hero list's filters: text in the name or secret name, and a team.

    The team comes as an id (from a link) or as text typed in the team field; text
    that names one team exactly, or matches only one, selects it, and text that
    matches several offers them as `team_choices`.
    """

    q = forms.CharField(label="Name or secret name", required=False, max_length=100)
    team_name = forms.CharField(label="Team", required=False, max_length=100)
    team = forms.IntegerField(
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"invalid": "Choose a team from the list.", "min_value": "No such team."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.selected_team: Team | None = None
        self.team_choices: list[Team] = []

    def clean(self):
        cleaned = super().clean()
        team_id, text = cleaned.get("team"), (cleaned.get("team_name") or "").strip()
        if self.errors:
            return cleaned
        if team_id is not None:
            self.selected_team = Team.objects.filter(pk=team_id).first()
            if self.selected_team is None:
                self.add_error("team", f"There is no team with id {team_id}.")
        elif text:
            matches = list(Team.objects.search(text)[: TEAM_CHOICES + 1])
            if not matches:
                self.add_error("team_name", f'No team name contains "{text}".')
            elif len(matches) == 1 or matches[0].name.lower() == text.lower():
                self.selected_team = matches[0]
            else:
                self.team_choices = matches[:TEAM_CHOICES]
        return cleaned


class RevertForm(forms.Form):
    """Revert a change set (in the URL), or only its part about `hero`."""

    hero = HeroField(required=False)


class DateInput(forms.DateInput):
    input_type = "date"


class ChangeFilterForm(forms.Form):
    """The change list's filters: where from, who, and between which days (both included)."""

    source = forms.ChoiceField(
        label="From", required=False, choices=[("", "Anywhere"), *ChangeSet.Source.choices]
    )
    user = forms.CharField(
        label="User",
        required=False,
        max_length=150,
        help_text="A username, or the user a command ran as.",
    )
    date_from = forms.DateField(label="Since", required=False, widget=DateInput)
    date_to = forms.DateField(label="Until", required=False, widget=DateInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("date_from"), cleaned.get("date_to")
        if since and until and since > until:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def filter(self, change_sets):
        """Keep the change sets of `change_sets` that match the (valid) filters."""
        data = self.cleaned_data
        if data["source"]:
            change_sets = change_sets.filter(source=data["source"])
        if user := data["user"].strip():
            # Who as shown: the username, or `user@host` for a command.
            change_sets = change_sets.filter(
                Q(actor__iexact=user) | Q(actor__istartswith=f"{user}@")
            )
        if data["date_from"]:
            change_sets = change_sets.filter(created_at__gte=_start_of(data["date_from"]))
        if data["date_to"] and data["date_to"] < datetime.date.max:
            next_day = data["date_to"] + datetime.timedelta(days=1)
            change_sets = change_sets.filter(created_at__lt=_start_of(next_day))
        return change_sets


def _start_of(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day`, in the current time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
