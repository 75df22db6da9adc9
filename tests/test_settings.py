"""Settings from the environment: production refuses to start without a secret key,
the debug toolbar exists only in development, and `check --deploy` is clean."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-" + "x" * 40,
    "DJANGO_ALLOWED_HOSTS": "heroes.example.com",
}


def django(code: str, **env) -> subprocess.CompletedProcess:
    """Run Python with Django set up under exactly the given DJANGO_* environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HEROES_"))}
    clean.pop("DATABASE_URL", None)
    clean["DJANGO_SETTINGS_MODULE"] = "heroes_site.settings"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def manage(*argv, **env) -> subprocess.CompletedProcess:
    return django(
        f"from django.core.management import call_command; call_command(*{list(argv)!r})",
        **env,
    )


def test_production_without_a_secret_key_refuses_to_start():
    result = django("print('started')")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "DJANGO_DEBUG=1" in result.stderr


@pytest.mark.parametrize(("env", "installed"), [({"DJANGO_DEBUG": "1"}, True), (PRODUCTION, False)])
def test_debug_toolbar_only_in_development(env, installed):
    result = django(
        "from django.conf import settings; "
        "print('debug_toolbar' in settings.INSTALLED_APPS, settings.DEBUG)",
        **env,
    )
    assert result.stdout.split() == [str(installed), str(installed)]


def test_deploy_checks_are_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_database_url_selects_postgresql():
    result = django(
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/heroes",
        **PRODUCTION,
    )
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_sqlite_by_default_with_wal_immediate_transactions_and_a_busy_timeout():
    result = django(
        "from django.conf import settings; o = settings.DATABASES['default']; "
        "print(o['ENGINE'], o['OPTIONS']['transaction_mode'], o['OPTIONS']['timeout'], "
        "'journal_mode=WAL' in o['OPTIONS']['init_command'])",
        **PRODUCTION,
    )
    assert result.stdout.split() == ["heroes_site.sqlite", "IMMEDIATE", "20", "True"]
