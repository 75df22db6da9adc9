"""Staff journeys through the pages' own controls, with and without JavaScript, and on a phone."""

import pytest
from playwright.sync_api import expect

from heroes.models import ChangeSet, Hero, HeroTeamLink, Team

pytestmark = pytest.mark.browser


def memberships_of(hero_id):
    return sorted(HeroTeamLink.objects.filter(hero_id=hero_id).values_list("team_id", flat=True))


def click_and_see(page, button, message, sql=None):
    """Press a button (by its accessible name) and see the message, and the SQL it ran."""
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(".messages")).to_contain_text(message)
    if sql is not None:
        expect(page.locator(".sql-panel")).to_contain_text(sql)


def hero_page_journey(page):
    expect(page.get_by_role("heading", level=1)).to_have_text("Spider-Boy")

    click_and_see(page, "Assign to Preventers", "Spider-Boy is now in Preventers.", 'UPDATE "hero"')
    expect(page.locator(".sql-panel")).to_contain_text('SET "team_id" = %s')
    assert Hero.objects.get(pk=3).team_id == 1

    click_and_see(page, "Clear Spider-Boy's team", "Spider-Boy is no longer in Preventers.", "NULL")
    assert Hero.objects.get(pk=3).team_id is None

    click_and_see(page, "Join Z-Force", "Spider-Boy joined Z-Force.", 'INSERT INTO "heroteamlink"')
    assert memberships_of(3) == [1, 2]

    click_and_see(page, "Leave Z-Force", "Spider-Boy left Z-Force.", 'DELETE FROM "heroteamlink"')
    assert memberships_of(3) == [1]


def test_a_staff_member_connects_spider_boy_with_javascript(open_page):
    page = open_page()
    hero_page_journey(page)

    # The grid flips cells in place: no page load (the marker survives), focus stays put.
    page.get_by_role("link", name="Memberships", exact=True).click()
    page.evaluate("window.stillHere = true")
    cell = page.locator("#cell-3-2")

    cell.get_by_role("button", name="Add Spider-Boy to Z-Force").click()
    expect(cell).to_contain_text("Member")
    expect(page.locator("#grid-status")).to_have_text("Spider-Boy joined Z-Force.")
    expect(page.locator(".sql-panel")).to_contain_text('INSERT INTO "heroteamlink"')
    expect(page.locator("#cell-3-2 button")).to_be_focused()
    assert memberships_of(3) == [1, 2]

    page.keyboard.press("Enter")  # the focused button: "Remove Spider-Boy from Z-Force"
    expect(page.locator("#grid-status")).to_have_text("Spider-Boy left Z-Force.")
    expect(page.locator("#cell-3-2 button")).to_have_accessible_name("Add Spider-Boy to Z-Force")
    assert memberships_of(3) == [1]
    assert page.evaluate("window.stillHere") is True


def test_the_same_journey_works_without_javascript(open_page):
    page = open_page(java_script_enabled=False)
    hero_page_journey(page)

    page.goto("/memberships/?hq=spider")
    page.get_by_role("button", name="Add Spider-Boy to Z-Force").click()
    page.wait_for_url("**/memberships/?hq=spider#cell-3-2")
    expect(page.locator(".messages")).to_contain_text("Spider-Boy joined Z-Force.")
    expect(page.locator("#cell-3-2")).to_contain_text("Member")
    page.get_by_role("button", name="Remove Spider-Boy from Z-Force").click()
    expect(page.locator(".messages")).to_contain_text("Spider-Boy left Z-Force.")
    assert memberships_of(3) == [1]


def test_nothing_scrolls_sideways_on_a_375_pixel_phone(open_page):
    # Enough teams with long names for the grid to be much wider than the phone.
    Team.objects.bulk_create(
        Team(name=f"The Uncanny Interdimensional Squad {i}", headquarters="Far away " * 10)
        for i in range(8)
    )
    page = open_page(viewport={"width": 375, "height": 740})

    def assert_fits(what):
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{what} is {width}px wide"

    page.get_by_role("button", name="Assign to Preventers").click()  # with the SQL panel
    assert_fits("/heroes/3/ after a change")
    change = f"/changes/{ChangeSet.objects.get().pk}/"  # with a long line of SQL
    for url in ["/heroes/", "/teams/", "/teams/1/?hero_q=o", "/changes/", change, "/memberships/"]:
        page.goto(url)
        assert_fits(url)
    page.get_by_role(
        "button", name="Add Spider-Boy to The Uncanny Interdimensional Squad 0"
    ).click()
    expect(page.locator("#grid-status")).to_contain_text("Spider-Boy joined")
    assert_fits("/memberships/ after a change")


def test_a_change_is_seen_in_the_history_and_reverted_with_its_button(open_page):
    page = open_page()
    click_and_see(page, "Assign to Preventers", "Spider-Boy is now in Preventers.")
    change = ChangeSet.objects.get()

    latest = page.locator("#history tbody tr").first
    expect(latest).to_contain_text(f"#{change.pk}")
    expect(latest).to_contain_text("boss")
    expect(latest).to_contain_text("Staff pages")
    expect(latest).to_contain_text("team no team → Preventers")

    click_and_see(
        page,
        f"Revert change #{change.pk}",
        f"Reverted change #{change.pk} (Spider-Boy is now in Preventers).",
        'UPDATE "hero"',
    )
    assert Hero.objects.get(pk=3).team_id is None
    expect(page.get_by_text("Spider-Boy has no team.")).to_be_visible()
    expect(latest).to_contain_text(f"Reverted change #{change.pk}")
