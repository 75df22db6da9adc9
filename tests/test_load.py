"""Reliability under load: 8 staff clients send 500 join/leave requests each, at once, on
overlapping hero-team pairs, to a live server (loopback only, bounded in count and time).

Zero 5xx, zero duplicate links, and the final memberships are exactly what the recorded
changes (one per request that changed something) say they should be.
"""

import http.client
import random
import threading
from collections import Counter
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from heroes.models import ChangeSet, HeroChange, HeroTeamLink

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 8
REQUESTS = 500
CSRF_SECRET = "LoadTestCsrfSecretOf32Characters"  # any 32 letters or digits


def staff_sessions(django_user_model, count):
    """Session cookies of `count` logged-in superusers."""
    cookies = []
    for index in range(count):
        user = django_user_model.objects.create_superuser(f"staff{index}", "", "pw")
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    return cookies


def test_eight_clients_racing_on_the_same_pairs_lose_and_duplicate_nothing(
    live_server, tutorial, django_user_model
):
    address = urlsplit(live_server.url)
    sessions = staff_sessions(django_user_model, CLIENTS)
    before = set(HeroTeamLink.objects.values_list("hero_id", "team_id"))
    pairs = [(hero, team) for hero in (1, 2, 3) for team in (1, 2)]
    statuses = Counter()
    errors = []

    def client(index):
        rng = random.Random(index)
        cookie = f"{settings.SESSION_COOKIE_NAME}={sessions[index]}; csrftoken={CSRF_SECRET}"
        try:
            for number in range(REQUESTS):
                hero, team = rng.choice(pairs)
                fields = {"team": team, "action": rng.choice(["join", "leave"])}
                if number % 2:  # the grid's cell form
                    path, fields["hero"] = "/memberships/toggle/", hero
                else:  # the hero page's membership form
                    path = f"/heroes/{hero}/memberships/"
                fields["csrfmiddlewaretoken"] = CSRF_SECRET
                connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
                connection.request(
                    "POST",
                    path,
                    urlencode(fields),
                    {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
                )
                response = connection.getresponse()
                response.read()
                connection.close()
                statuses[response.status] += 1
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)

    assert errors == []
    assert statuses == {302: CLIENTS * REQUESTS}
    links = Counter(HeroTeamLink.objects.values_list("hero_id", "team_id"))
    assert all(count == 1 for count in links.values())  # no pair twice (none may be left)

    # Replay the recorded changes, pair by pair in the order they were made (each
    # team's changes are serialised, so ids order them): every join found a
    # non-member, every leave a member, and the result is the database's state.
    members = set(before)
    changes = HeroChange.objects.filter(change_set__source=ChangeSet.Source.PAGE).order_by(
        "change_set_id"
    )
    for hero, team, was, now in changes.values_list(
        "hero_id", "team_id", "member_before", "member_after"
    ):
        assert ((hero, team) in members) == was
        (members.add if now else members.discard)((hero, team))
    assert members == set(links)
    assert 0 < changes.count() <= CLIENTS * REQUESTS
