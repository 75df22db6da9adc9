"""Faults: a database connection killed mid-request, a database locked by another writer.

The request is retried or fails cleanly with a 503 page that says to try again; nothing
is half-written, and the next request works.
"""

import sqlite3

import pytest
from django.db import connection
from django.test import Client

from heroes import services
from heroes.models import ChangeSet, HeroTeamLink

pytestmark = pytest.mark.django_db(transaction=True)

JOIN = {"hero": "3", "team": "2", "action": "join", "next": "/memberships/"}


@pytest.fixture
def staff(tutorial, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def spider_boy_in_z_force() -> bool:
    return HeroTeamLink.objects.filter(hero_id=3, team_id=2).exists()


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_terminate_backend is PostgreSQL's"
)
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's file lock")


def kill_own_backend(times: int):
    """Wrap services._lock_team so the first `times` calls find their connection killed."""
    real = services._lock_team
    kills = []

    def lock_team_after_kill(team):
        if len(kills) < times:
            pid = connection.cursor().connection.info.backend_pid
            other = connection.copy()  # another session does the killing
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            finally:
                other.close()
            kills.append(pid)
        return real(team)

    return lock_team_after_kill, kills


@postgres_only
def test_a_connection_killed_mid_change_is_retried_and_the_change_made_once(staff, monkeypatch):
    wrapper, kills = kill_own_backend(times=1)
    monkeypatch.setattr(services, "_lock_team", wrapper)

    response = staff.post("/memberships/toggle/", JOIN)

    assert len(kills) == 1
    assert response.status_code == 302
    assert spider_boy_in_z_force()
    assert ChangeSet.objects.filter(operation="join").count() == 1


@postgres_only
def test_a_connection_killed_every_time_answers_503_and_writes_nothing(staff, monkeypatch):
    wrapper, kills = kill_own_backend(times=services.RETRIES)
    monkeypatch.setattr(services, "_lock_team", wrapper)

    response = staff.post("/memberships/toggle/", JOIN)

    assert len(kills) == services.RETRIES
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"Please try again" in response.content
    assert b"Nothing was changed" in response.content
    monkeypatch.undo()
    assert not spider_boy_in_z_force()
    assert not ChangeSet.objects.exists()
    # The next request works.
    assert staff.post("/memberships/toggle/", JOIN).status_code == 302
    assert spider_boy_in_z_force()


@sqlite_only
def test_a_database_locked_by_another_writer_answers_503_then_works(staff):
    path = connection.settings_dict["NAME"]
    timeout = connection.settings_dict["OPTIONS"]["timeout"]
    connection.settings_dict["OPTIONS"]["timeout"] = 0.3
    connection.close()
    other = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        response = staff.post("/memberships/toggle/", JOIN)
        assert response.status_code == 503
        assert b"Please try again" in response.content
        other.execute("ROLLBACK")
    finally:
        other.close()
        connection.settings_dict["OPTIONS"]["timeout"] = timeout
        connection.close()

    assert not spider_boy_in_z_force()
    assert not ChangeSet.objects.exists()
    assert staff.post("/memberships/toggle/", JOIN).status_code == 302
    assert spider_boy_in_z_force()


def test_other_server_errors_stay_500_and_write_nothing(staff, monkeypatch):
    from heroes import history

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(history, "begin", broken)
    response = staff.post("/memberships/toggle/", JOIN)
    assert response.status_code == 500
    assert not spider_boy_in_z_force()
