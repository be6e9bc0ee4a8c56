"""Two app instances (two Gunicorn masters, one database) start the daily claim at the same instant.

Each instance has its own workers, pools and list cache, as two machines behind a load balancer
would; only PostgreSQL is shared. No profile may be handed out twice, and callers asking for the
same date must all get the one run.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from .conftest import DISTRIBUTE_KEY, count
from .distribution_helpers import add_pool, add_targets, assert_no_profile_twice
from .servers import GunicornServer

pytestmark = pytest.mark.slow

TARGETS, QUOTA = 40, 100
DAILY = TARGETS * QUOTA
CALLERS = 8  # four per instance
HEADERS = {"Authorization": f"Bearer {DISTRIBUTE_KEY}"}


@pytest.fixture(scope="module")
def instances(database_url, tmp_path_factory):
    servers = [GunicornServer(tmp_path_factory.mktemp(f"instance-{n}"), database_url,
                              RATELIMIT_ENABLED="false") for n in range(2)]
    try:
        yield [server.start() for server in servers]
    finally:
        for server in servers:
            server.stop()


def run_at_once(instances, days: list[str]) -> list[dict]:
    """CALLERS threads, alternating between the instances, POST /api/distribution/run together."""
    barrier = threading.Barrier(CALLERS, timeout=60)
    answers: list[dict] = [{}] * CALLERS

    def call(number: int) -> None:
        server = instances[number % 2]
        with httpx.Client(timeout=120, headers=HEADERS) as client:
            barrier.wait()
            response = client.post(f"{server.url}/api/distribution/run", json={"date": days[number]})
        answers[number] = {"status": response.status_code, "instance": number % 2, **response.json()}

    threads = [threading.Thread(target=call, args=(n,)) for n in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert all(a.get("status") == 200 for a in answers), answers
    return answers


def list_of(server: GunicornServer, day: str) -> list[tuple]:
    """Every (target, profile id) of a date's list, read page by page from one instance."""
    items, cursor = [], None
    with httpx.Client(timeout=60, headers=HEADERS) as client:
        for _ in range(DAILY):  # bounded: at most one page per assignment
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{server.url}/api/distribution/{day}", params=params).json()
            items += [(item["target"], item["profile_id"]) for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return items
    pytest.fail("the list did not end")


def test_one_date_claimed_at_once_through_both_instances_is_one_run(instances, db):
    add_pool(db, DAILY * 2)
    add_targets(db, [QUOTA] * TARGETS)
    answers = run_at_once(instances, ["2026-05-04"] * CALLERS)
    first = [a for a in answers if not a["replayed"]]
    assert len(first) == 1 and first[0]["claimed"] == DAILY  # one caller claimed, the others replayed it
    assert all(a["claimed"] == 0 for a in answers if a["replayed"])
    assert {(a["assigned"], str(a["targets"])) for a in answers} == {(DAILY, str(first[0]["targets"]))}
    assert_no_profile_twice(db)
    assert count(db, "SELECT count(*) FROM distribution_assignments") == DAILY
    lists = [list_of(server, "2026-05-04") for server in instances]
    assert lists[0] == lists[1] and len(lists[0]) == DAILY


def test_two_dates_claimed_at_once_through_both_instances_share_the_pool(instances, db):
    pool = DAILY + DAILY // 2  # enough for one day, short for two
    add_pool(db, pool)
    add_targets(db, [QUOTA] * TARGETS)
    days = ["2026-05-05", "2026-05-06"]
    answers = run_at_once(instances, [days[n // 2 % 2] for n in range(CALLERS)])  # both dates on both instances
    for day in days:
        of_day = [a for a in answers if a["date"] == day]
        assert sum(not a["replayed"] for a in of_day) == 1
        assert len({(a["assigned"], str(a["targets"])) for a in of_day}) == 1
    assert sum(a["claimed"] for a in answers) == pool  # the whole pool went out, once
    assert_no_profile_twice(db)
    assert count(db, "SELECT count(*) FROM global_usernames WHERE NOT used") == 0
