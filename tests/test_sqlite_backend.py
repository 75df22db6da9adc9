"""The SQLite backend (`heroes_site.sqlite`): a writer retries BEGIN IMMEDIATE every
millisecond while another connection holds the write lock, until the timeout."""

import sqlite3
import threading

import pytest
from django.db import OperationalError, connection, transaction

from heroes.models import Team

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock"),
]


@pytest.fixture
def other_writer():
    """Another connection to the database file, as another process would hold one."""
    other = sqlite3.connect(
        connection.settings_dict["NAME"], isolation_level=None, timeout=5, check_same_thread=False
    )
    yield other
    other.close()


@pytest.fixture
def begins():
    """The BEGIN statements this thread's connection runs, tries that failed included."""
    tries = []

    def count(execute, sql, params, many, context):
        if sql.startswith("BEGIN"):
            tries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield tries


def busy_timeout() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return cursor.fetchone()[0]


def test_a_writer_gets_the_lock_soon_after_another_releases_it(other_writer, begins):
    connection.ensure_connection()
    other_writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other_writer.execute, args=("ROLLBACK",))
    release.start()
    try:
        with transaction.atomic():
            Team.objects.create(name="Waited", headquarters="Queue")
    finally:
        release.join()

    assert Team.objects.filter(name="Waited").exists()
    # SQLite's own handler would have slept 1, 2, 5, 10... 100 ms between a dozen tries;
    # the backend tries every millisecond (however slow the machine, more than 12 in 300 ms).
    assert len(begins) > 12
    assert set(begins) == {"BEGIN IMMEDIATE"}
    # The handler is back for every other statement.
    assert busy_timeout() == connection.settings_dict["OPTIONS"]["timeout"] * 1000


def test_a_writer_gives_up_at_the_timeout_and_writes_nothing(other_writer):
    timeout = connection.settings_dict["OPTIONS"]["timeout"]
    connection.settings_dict["OPTIONS"]["timeout"] = 0.2
    connection.close()
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(OperationalError, match="database is locked"),
            transaction.atomic(),
        ):
            Team.objects.create(name="Never", headquarters="Nowhere")
        assert busy_timeout() == 200
    finally:
        other_writer.execute("ROLLBACK")
        connection.settings_dict["OPTIONS"]["timeout"] = timeout
        connection.close()

    assert not Team.objects.filter(name="Never").exists()
    with transaction.atomic():
        Team.objects.create(name="Now", headquarters="Here")
    assert Team.objects.filter(name="Now").exists()


def test_reads_and_the_first_try_need_no_retry(begins):
    with transaction.atomic():
        Team.objects.create(name="First", headquarters="Try")
    assert begins == ["BEGIN IMMEDIATE"]
