"""Production serving: the health check, hashed static files with long caching, headers."""

import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from tests.test_settings import PRODUCTION, ROOT, django


def test_health_check_answers_ok_without_login(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_health_check_says_503_when_the_database_is_unreachable(client, db):
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=OperationalError("connection refused"),
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


def test_health_check_is_exempt_from_the_https_redirect():
    result = django(
        "from django.test import Client; "
        "print(Client().get('/heroes/', HTTP_HOST='heroes.example.com').status_code)",
        **PRODUCTION,
    )
    assert result.stdout.strip() == "301"
    result = django(
        "import re; from django.conf import settings; "
        "print(any(re.match(p, 'healthz') for p in settings.SECURE_REDIRECT_EXEMPT))",
        **PRODUCTION,
    )
    assert result.stdout.strip() == "True"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """`collectstatic` with the production storage, into a temporary STATIC_ROOT."""
    root = tmp_path_factory.mktemp("static")
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            **PRODUCTION,
            "DJANGO_STATIC_ROOT": str(root),
            "DJANGO_SETTINGS_MODULE": "heroes_site.settings",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return root


def test_static_files_are_hashed_compressed_and_cached_for_a_year(collected, settings, db):
    hashed = sorted(Path(collected, "heroes").glob("heroes.*.css"))
    assert hashed, "collectstatic wrote no hashed heroes.css"
    assert Path(f"{hashed[0]}.gz").exists()
    settings.STATIC_ROOT = collected
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

    response = Client().get(f"/static/heroes/{hashed[0].name}")
    response.close()

    assert response.status_code == 200
    assert "max-age=315360000" in response["Cache-Control"]
    assert "immutable" in response["Cache-Control"]


def test_security_headers_on_every_page(client, db):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
