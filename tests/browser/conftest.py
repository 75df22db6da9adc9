"""Browser tests: Debian's Chromium, driven by Playwright, against pytest-django's live server.

They are skipped, saying why, where /usr/bin/chromium is missing (`apt-get install chromium`).
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread, which Django would
# otherwise take for async code calling the ORM.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME, PASSWORD = "boss", "a-long-test-password"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the tests of one module (the event loop ends with them)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def boss(transactional_db, django_user_model):
    """A superuser who logs in through the login form."""
    return django_user_model.objects.create_superuser(USERNAME, "boss@example.com", PASSWORD)


@pytest.fixture
def open_page(browser, live_server, boss, tutorial):
    """A factory: `open_page(**context_options)` returns a logged-in page of a new context."""
    contexts = []

    def open_(**options):
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/heroes/3/")  # the login page, which comes back here afterwards
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/heroes/3/")
        return page

    yield open_
    for context in contexts:
        context.close()
