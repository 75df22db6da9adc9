"""The SQL capture: statements with parameters and durations, transactions, logging and echo."""

import io
import logging
import threading

import pytest
from django.db import connection

from heroes import services, sql
from heroes.models import Hero, Team


def test_capture_records_statement_parameters_and_duration(tutorial):
    with sql.capture() as statements:
        list(Hero.objects.filter(pk=3))

    [statement] = statements
    assert statement.sql.startswith('SELECT "hero"."id"')
    assert statement.params == (3,)
    assert statement.duration > 0
    assert statement.verb == "SELECT"
    assert statement.timing == f"[{statement.duration:.5f}s] (3,)"


def test_capture_works_with_debug_off(settings, tutorial):
    settings.DEBUG = False
    with sql.capture() as statements:
        Team.objects.count()
    assert [s.verb for s in statements] == ["SELECT"]


def test_captures_nest_and_each_sees_its_own_statements(tutorial):
    with sql.capture() as outer:
        Team.objects.count()
        with sql.capture() as inner:
            Hero.objects.count()
    assert len(outer) == 2
    assert len(inner) == 1
    assert connection.execute_wrappers == []


def test_capture_ignores_other_threads(tutorial, transactional_db):
    def other():
        Team.objects.count()
        connection.close()

    with sql.capture() as statements:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert statements == []


@pytest.mark.django_db(transaction=True)
def test_a_change_reports_begin_and_commit(spider_boy, preventers):
    result = services.assign_team(hero=spider_boy, team=preventers)
    assert [s.verb for s in result.statements] == [
        "BEGIN",
        "SELECT",
        "INSERT",
        "INSERT",
        "UPDATE",
        "UPDATE",
        "COMMIT",
    ]
    assert result.statements[0].timing is None


@pytest.mark.django_db(transaction=True)
def test_a_failed_change_reports_rollback_and_writes_nothing(spider_boy, z_force, caplog):
    caplog.set_level(logging.INFO, logger="heroes.sql")
    with pytest.raises(services.ServiceError), sql.capture() as statements:
        services.set_training(hero=spider_boy, team=z_force, training=True)
    assert [s.verb for s in statements] == ["BEGIN", "SELECT", "SELECT", "ROLLBACK"]
    assert caplog.messages[-1] == "ROLLBACK"


@pytest.mark.django_db(transaction=True)
def test_changes_are_logged_like_the_tutorial_console(spider_boy, preventers, caplog):
    caplog.set_level(logging.INFO, logger="heroes.sql")
    result = services.assign_team(hero=spider_boy, team=preventers)

    update = next(s for s in result.statements if s.verb == "UPDATE")
    assert caplog.messages[0] == "BEGIN"
    assert caplog.messages[-1] == "COMMIT"
    index = caplog.messages.index('UPDATE "hero" SET "team_id" = %s WHERE "hero"."id" = %s')
    assert caplog.messages[index + 1] == f"[{update.duration:.5f}s] (1, 3)"
    assert all(record.levelname == "INFO" for record in caplog.records)


def test_reads_outside_a_change_are_not_logged(tutorial, caplog):
    caplog.set_level(logging.INFO, logger="heroes.sql")
    Hero.objects.count()
    assert caplog.messages == []


def test_echo_writes_every_statement_to_the_stream(tutorial):
    stream = io.StringIO()
    with sql.echo_to(stream):
        Team.objects.count()
    lines = stream.getvalue().splitlines()
    assert lines[0] == 'SELECT COUNT(*) AS "__count" FROM "team"'
    assert lines[1].startswith("[") and lines[1].endswith("s] ()")
    assert len(lines) == 2


def test_statements_are_pretty_printed_and_summarised_as_json(tutorial):
    with sql.capture() as statements:
        list(Hero.objects.filter(name="Deadpond"))
    [statement] = statements
    assert '\nFROM "hero"\nWHERE' in statement.pretty
    assert statement.to_json() == {"sql": statement.sql, "timing": statement.timing}
