"""heroes.auth.PermissionBackend: ModelBackend's answers, in one query instead of two."""

import pytest
from django.contrib.auth.models import Group, Permission

from heroes.auth import PermissionBackend
from heroes.models import Hero, Team

pytestmark = pytest.mark.django_db


def permission(codename):
    return Permission.objects.get(content_type__app_label="heroes", codename=codename)


@pytest.fixture
def user(django_user_model):
    user = django_user_model.objects.create(username="sam", is_staff=True)
    user.user_permissions.add(permission("change_hero"))
    group = Group.objects.create(name="Trainers")
    group.permissions.add(permission("change_heroteamlink"), permission("change_hero"))
    user.groups.add(group)
    return django_user_model.objects.get(pk=user.pk)  # no cached permissions


def test_own_and_group_permissions_in_one_query(user, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert user.get_all_permissions() == {"heroes.change_hero", "heroes.change_heroteamlink"}
    with django_assert_num_queries(0):  # cached on the user, as ModelBackend does
        assert user.has_perm("heroes.change_heroteamlink")
        assert not user.has_perm("heroes.delete_heroteamlink")
        assert user.has_perms(["heroes.change_hero", "heroes.change_heroteamlink"])
        assert user.has_module_perms("heroes")
        assert not user.has_module_perms("auth")


def test_the_same_answers_as_model_backend(user):
    assert user.get_user_permissions() == {"heroes.change_hero"}
    assert user.get_group_permissions() == {"heroes.change_hero", "heroes.change_heroteamlink"}


def test_inactive_users_have_no_permission(user):
    user.is_active = False
    assert user.get_all_permissions() == set()
    assert not user.has_perm("heroes.change_hero")


def test_superusers_have_every_permission(django_user_model):
    boss = django_user_model.objects.create(username="boss", is_staff=True, is_superuser=True)
    assert len(boss.get_all_permissions()) == Permission.objects.count()


def test_a_permission_taken_away_counts_from_the_next_request(user, client):
    team = Team.objects.create(name="Preventers", headquarters="Sharp Tower")
    hero = Hero.objects.create(name="Rusty-Man", secret_name="Tommy Sharp", team=team)
    client.force_login(user)
    assert "Clear Rusty-Man's team" in client.get(f"/heroes/{hero.pk}/").content.decode()

    user.groups.clear()
    user.user_permissions.clear()

    assert "Clear Rusty-Man" not in client.get(f"/heroes/{hero.pk}/").content.decode()
    response = client.post(f"/heroes/{hero.pk}/team/clear/", {"expected_team": team.pk})
    assert response.status_code == 403
    assert Hero.objects.get(pk=hero.pk).team_id == team.pk


def test_the_user_of_a_request_comes_with_their_permissions(user, django_assert_num_queries):
    backend = PermissionBackend()

    with django_assert_num_queries(1):
        found = backend.get_user(user.pk)
        assert found == user
        assert found.get_all_permissions() == {"heroes.change_hero", "heroes.change_heroteamlink"}
        assert found.get_user_permissions() == {"heroes.change_hero"}
        assert found.get_group_permissions() == {
            "heroes.change_hero",
            "heroes.change_heroteamlink",
        }
        assert found.has_perm("heroes.change_heroteamlink")
        assert not found.has_perm("heroes.delete_heroteamlink")


def test_a_user_without_permissions_has_none(django_user_model, django_assert_num_queries):
    sam = django_user_model.objects.create(username="sam", is_staff=True)

    with django_assert_num_queries(1):
        assert PermissionBackend().get_user(sam.pk).get_all_permissions() == set()


def test_unknown_and_inactive_users_are_not_returned(user, django_user_model):
    assert PermissionBackend().get_user(user.pk + 1000) is None
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    assert PermissionBackend().get_user(user.pk) is None


def test_a_superuser_read_with_the_request_has_every_permission(django_user_model):
    boss = django_user_model.objects.create(username="boss", is_staff=True, is_superuser=True)
    found = PermissionBackend().get_user(boss.pk)
    assert found.has_perm("heroes.delete_team")
    assert len(found.get_all_permissions()) == Permission.objects.count()
