"""Who may change what: every URL that changes data, for every kind of visitor.

Anonymous visitors are sent to log in, non-staff users and staff without the model
permission are refused (403), a POST without its CSRF token is refused (403), and
only staff with the permission change anything.
"""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from heroes.models import ChangeSet, Hero, HeroTeamLink

# (URL, form data, the permissions that allow it)
CHANGES = {
    "assign a team": ("/heroes/3/team/", {"team": "1", "expected_team": ""}, ["change_hero"]),
    "clear a team": ("/heroes/2/team/clear/", {"expected_team": "1"}, ["change_hero"]),
    "join from the hero page": (
        "/heroes/3/memberships/",
        {"team": "2", "action": "join"},
        ["add_heroteamlink"],
    ),
    "leave from the hero page": (
        "/heroes/1/memberships/",
        {"team": "2", "action": "leave"},
        ["delete_heroteamlink"],
    ),
    "set training": (
        "/heroes/1/training/",
        {"team": "1", "training": "0"},
        ["change_heroteamlink"],
    ),
    # The grid's cells toggle in place: they need both permissions, as a toggle does.
    "join from the grid": (
        "/memberships/toggle/",
        {"hero": "3", "team": "2", "action": "join"},
        ["add_heroteamlink", "delete_heroteamlink"],
    ),
    "leave from the grid": (
        "/memberships/toggle/",
        {"hero": "1", "team": "2", "action": "leave"},
        ["add_heroteamlink", "delete_heroteamlink"],
    ),
    "admin: assign a team": (
        "/admin/heroes/hero/",
        {"action": "assign_team", "_selected_action": ["3"], "team": "1", "post": "yes"},
        ["view_hero", "change_hero"],
    ),
    "admin: clear the team": (
        "/admin/heroes/hero/",
        {"action": "clear_team", "_selected_action": ["2"], "post": "yes"},
        ["view_hero", "change_hero"],
    ),
    "admin: add to a team": (
        "/admin/heroes/hero/",
        {"action": "add_to_team", "_selected_action": ["3"], "team": "2", "post": "yes"},
        ["view_hero", "add_heroteamlink"],
    ),
    "admin: remove from a team": (
        "/admin/heroes/hero/",
        {"action": "remove_from_team", "_selected_action": ["1"], "team": "2", "post": "yes"},
        ["view_hero", "delete_heroteamlink"],
    ),
    "admin: toggle a membership": (
        "/admin/heroes/hero/",
        {"action": "toggle_membership", "_selected_action": ["3"], "team": "2", "post": "yes"},
        ["view_hero", "add_heroteamlink", "delete_heroteamlink"],
    ),
}


def state():
    return (
        list(Hero.objects.order_by("pk").values_list("pk", "team_id")),
        sorted(HeroTeamLink.objects.values_list("hero_id", "team_id", "is_training")),
        ChangeSet.objects.count(),
    )


def user_with(django_user_model, *, staff: bool, codenames, name="someone"):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=staff)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="heroes", codename__in=codenames)
    )
    return user


def client_for(user, *, csrf=False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("change", CHANGES)
def test_anonymous_visitors_are_sent_to_log_in(change, tutorial):
    url, data, _ = CHANGES[change]
    before = state()
    response = Client().post(url, data)
    assert response.status_code == 302
    login = "/admin/login/" if url.startswith("/admin/") else "/accounts/login/"
    assert response["Location"].startswith(f"{login}?next=")
    assert state() == before


@pytest.mark.parametrize("change", CHANGES)
def test_users_who_are_not_staff_are_refused_even_with_the_permission(
    change, tutorial, django_user_model
):
    url, data, codenames = CHANGES[change]
    user = user_with(django_user_model, staff=False, codenames=codenames)
    before = state()
    response = client_for(user).post(url, data)
    if url.startswith("/admin/"):
        # The admin sends non-staff users to its own login page.
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    else:
        assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize("change", CHANGES)
def test_staff_without_the_permission_are_refused(change, tutorial, django_user_model):
    url, data, codenames = CHANGES[change]
    # Every heroes permission but the ones this change needs (viewing is left in).
    others = [
        p.codename
        for p in Permission.objects.filter(content_type__app_label="heroes")
        if p.codename not in codenames or p.codename.startswith("view_")
    ]
    user = user_with(django_user_model, staff=True, codenames=others)
    before = state()
    response = client_for(user).post(url, data, follow=url.startswith("/admin/"))
    if url.startswith("/admin/"):
        # The admin offers them only the actions they may use; posting another is
        # refused as Django's admin does it.
        assert response.status_code == 200
        assert "No action selected." in [str(m) for m in response.context["messages"]]
    else:
        assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize("change", CHANGES)
def test_a_post_without_its_csrf_token_is_refused(change, tutorial, django_user_model):
    url, data, codenames = CHANGES[change]
    user = user_with(django_user_model, staff=True, codenames=codenames)
    before = state()
    response = client_for(user, csrf=True).post(url, data)
    assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize("change", CHANGES)
def test_staff_with_the_permission_make_the_change(change, tutorial, django_user_model):
    url, data, codenames = CHANGES[change]
    user = user_with(django_user_model, staff=True, codenames=codenames)
    before = state()
    response = client_for(user).post(url, data)
    assert response.status_code == 302
    assert state() != before
    assert ChangeSet.objects.get().user == user
