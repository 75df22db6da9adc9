"""Many threads changing the same memberships at once: no duplicates, no errors, no lost flips.

Each thread has its own database connection, so these run on real transactions, on
SQLite (a file database in WAL mode) and on PostgreSQL alike.
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from heroes import services
from heroes.models import Hero, HeroChange, HeroTeamLink, Team

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def run_in_threads(work, count=THREADS):
    """Run work(index) in `count` threads started together; return the exceptions raised."""
    barrier = threading.Barrier(count)
    errors = []

    def worker(index):
        try:
            barrier.wait()
            work(index)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def pair_count(hero, team):
    return HeroTeamLink.objects.filter(hero=hero, team=team).count()


def test_concurrent_toggles_of_one_pair_flip_it_once_each(spider_boy, z_force):
    toggles = [25] * (THREADS - 1) + [26]  # 201 flips: Spider-Boy ends up a member
    results = Counter()

    def toggle(index):
        for _ in range(toggles[index]):
            result = services.toggle_membership(hero=spider_boy, team=z_force)
            results.update(joined=result.joined, left=result.left)

    assert run_in_threads(toggle) == []
    assert results["joined"] + results["left"] == sum(toggles)
    assert results["joined"] - results["left"] == 1
    assert pair_count(spider_boy, z_force) == 1


def test_concurrent_joins_of_one_pair_create_one_link(spider_boy, z_force):
    joined = Counter()

    def join(index):
        joined.update(count=services.join_team(hero=spider_boy, team=z_force).joined)

    assert run_in_threads(join) == []
    assert joined["count"] == 1
    assert pair_count(spider_boy, z_force) == 1


def test_single_and_bulk_toggles_racing_on_overlapping_pairs_lose_no_flip(tutorial):
    teams = list(Team.objects.order_by("pk"))
    heroes = list(Hero.objects.order_by("pk"))
    flips = Counter()
    lock = threading.Lock()
    before = set(HeroTeamLink.objects.values_list("hero_id", "team_id"))

    def work(index):
        team = teams[index % 2]
        for round_ in range(12):
            if (index + round_) % 3 == 0:
                selection = Hero.objects.filter(pk__in=[h.pk for h in heroes[index % 2 :]])
                services.bulk_toggle_membership(heroes=selection, team=team)
                touched = [(h.pk, team.pk) for h in heroes[index % 2 :]]
            else:
                hero = heroes[(index + round_) % 3]
                services.toggle_membership(hero=hero, team=team)
                touched = [(hero.pk, team.pk)]
            with lock:
                flips.update(touched)

    assert run_in_threads(work) == []
    after = Counter(HeroTeamLink.objects.values_list("hero_id", "team_id"))
    assert max(after.values()) == 1
    for hero in heroes:
        for team in teams:
            pair = (hero.pk, team.pk)
            expected = (pair in before) != (flips[pair] % 2 == 1)
            assert (pair in after) == expected, pair


def test_concurrent_team_changes_of_one_hero_all_apply(spider_boy, preventers, z_force):
    changed = Counter()

    def assign(index):
        for round_ in range(10):
            team = (preventers, z_force)[(index + round_) % 2]
            changed.update(count=services.assign_team(hero=spider_boy, team=team).changed)

    assert run_in_threads(assign) == []
    assert Hero.objects.get(pk=spider_boy.pk).team_id in {preventers.pk, z_force.pk}
    assert changed["count"] >= 1


def test_concurrent_bulk_moves_of_overlapping_heroes_record_every_move(tutorial, many_heroes):
    heroes = many_heroes(30)
    ids = list(heroes.order_by("pk").values_list("pk", flat=True))
    teams = list(Team.objects.order_by("pk"))
    first = dict(heroes.values_list("pk", "team_id"))

    def move(index):
        for round_ in range(6):
            selection = Hero.objects.filter(pk__in=ids[(index % 3) * 10 :])
            try:
                if (index + round_) % 3 == 0:
                    services.bulk_clear_team(heroes=selection)
                else:
                    services.bulk_assign_team(heroes=selection, team=teams[(index + round_) % 2])
            except services.ServiceError:
                pass  # "kept interfering": given up after retries, nothing written

    assert run_in_threads(move) == []
    # Each hero's entries chain its moves, in whatever order they committed: every
    # team it was moved into it was moved out of again, but the last one.
    balance = Counter()
    for hero, before, after in HeroChange.objects.filter(hero_id__in=ids).values_list(
        "hero_id", "team_before_id", "team_after_id"
    ):
        balance[hero, before] -= 1
        balance[hero, after] += 1
    last = dict(heroes.values_list("pk", "team_id"))
    expected = Counter({(hero, last[hero]): 1 for hero in ids})
    expected.subtract({(hero, first[hero]): 1 for hero in ids})
    assert +balance == +expected and -balance == -expected
