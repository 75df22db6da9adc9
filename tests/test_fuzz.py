"""Fuzzing with hypothesis: the staff forms, the admin's actions and the commands' arguments
get arbitrary input. Nothing answers 5xx, no exception escapes, and nothing changes unless
the input was valid."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heroes.models import ChangeSet, Hero, HeroTeamLink

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values a form field might get: real ids and words, numbers of any size, any text.
values = st.one_of(
    st.sampled_from(["1", "2", "3", "0", "-1", "", "join", "leave", "yes", "on", "null"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=40),
)
ids = st.one_of(
    st.integers(min_value=0, max_value=5), st.integers(min_value=2**62, max_value=2**80)
)


def state():
    return (
        list(Hero.objects.order_by("pk").values_list("pk", "team_id")),
        sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training")),
        ChangeSet.objects.count(),
    )


def is_id(value, model) -> bool:
    return isinstance(value, str) and value.isdigit() and model.objects.filter(pk=value).exists()


@pytest.fixture
def rolled_back():
    """Run each example in a transaction that is rolled back, so examples start alike."""

    class Rollback(Exception):
        pass

    def run(example):
        try:
            with transaction.atomic():
                example()
                raise Rollback
        except Rollback:
            pass

    return run


FORMS = {
    "/heroes/{pk}/team/": ["team", "expected_team", "next"],
    "/heroes/{pk}/team/clear/": ["expected_team", "next"],
    "/heroes/{pk}/memberships/": ["team", "action", "next"],
    "/heroes/{pk}/training/": ["team", "training", "next"],
    "/memberships/toggle/": ["hero", "team", "action", "cell", "next"],
}


@pytest.mark.parametrize("path", FORMS)
def test_staff_forms_take_any_input_without_a_server_error(
    path, admin_client, tutorial, rolled_back
):
    @FUZZ
    @given(pk=ids, data=st.fixed_dictionaries({}, optional=dict.fromkeys(FORMS[path], values)))
    def example(pk, data):
        def run():
            before = state()
            response = admin_client.post(path.format(pk=pk), data)
            assert response.status_code < 500
            if state() != before:
                # Only a well-formed change of existing rows may change anything.
                assert "{pk}" not in path or Hero.objects.filter(pk=pk).exists()
                assert is_id(data.get("team"), Hero._meta.get_field("team").related_model) or (
                    path.endswith("/clear/")
                )

        rolled_back(run)

    example()


ACTIONS = ["assign_team", "clear_team", "add_to_team", "remove_from_team", "toggle_membership"]


def test_admin_actions_take_any_input_without_a_server_error(admin_client, tutorial, rolled_back):
    @FUZZ
    @given(
        action=st.one_of(st.sampled_from([*ACTIONS, "delete_selected"]), st.text(max_size=20)),
        selected=st.lists(values, max_size=4),
        extra=st.fixed_dictionaries(
            {},
            optional={"team": values, "select_across": values, "post": values, "training": values},
        ),
    )
    def example(action, selected, extra):
        def run():
            before = state()
            data = {"action": action, "_selected_action": selected, **extra}
            response = admin_client.post("/admin/heroes/hero/", data)
            assert response.status_code < 500
            if state() != before:
                # Only a known action, confirmed (Django's delete_selected takes any "post").
                assert action in [*ACTIONS, "delete_selected"] and extra.get("post")

        rolled_back(run)

    example()


COMMANDS = {
    "assign_team": 2,
    "clear_team": 1,
    "join_team": 2,
    "leave_team": 2,
    "toggle_team": 2,
    "list_heroes": 0,
    "history": 0,
    "revert": 1,
}


@pytest.mark.parametrize("command", COMMANDS)
def test_command_arguments_fail_cleanly_or_work(command, tutorial, rolled_back):
    @FUZZ
    @given(arguments=st.lists(values, min_size=COMMANDS[command], max_size=COMMANDS[command]))
    def example(arguments):
        def run():
            before = state()
            try:
                call_command(command, *arguments, stdout=io.StringIO(), stderr=io.StringIO())
            except CommandError:
                assert state() == before

        rolled_back(run)

    example()
