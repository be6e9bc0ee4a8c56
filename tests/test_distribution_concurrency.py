"""Two daily runs at the same moment, from two threads or two processes, never assign a profile twice.

The reference workload: 72 targets x 200 = 14,400 claims a day. The deterministic versions of these
races (one claim holding its locks while the other runs) are in test_distribution_claim.py.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from datetime import date

import pytest

from server.config import load_settings
from server.storage.postgres import PostgresStore

from .conftest import count, make_config
from .distribution_helpers import add_pool, add_targets, assert_no_profile_twice

TARGETS, QUOTA = 72, 200
DAILY = TARGETS * QUOTA
POOL = 20_000  # enough for one day, short for two

pytestmark = pytest.mark.slow


def _claim(database_url: str, day: str, barrier, results) -> None:
    """One caller: its own store (pool), wait for the other caller, then run the day."""
    store = PostgresStore(database_url, load_settings(make_config(database_url)))
    try:
        barrier.wait()
        summary = store.run_distribution(date.fromisoformat(day))
        results.put((day, summary["claimed"], summary["assigned"], summary["replayed"]))
    except Exception as exc:  # reported to the test instead of leaving it waiting
        results.put(("failed", repr(exc)))
    finally:
        store.close()


def _run_two(kind: str, database_url: str, days: tuple[str, str]) -> list[tuple]:
    if kind == "threads":
        barrier, results = threading.Barrier(2), queue.Queue()
        workers = [threading.Thread(target=_claim, args=(database_url, day, barrier, results))
                   for day in days]
    else:  # spawn: a fresh interpreter per caller, as separate Gunicorn workers or machines are
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(2), context.Queue()
        workers = [context.Process(target=_claim, args=(database_url, day, barrier, results)) for day in days]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join()
    assert all(outcome[0] != "failed" for outcome in outcomes), outcomes
    return outcomes


def _arrange(db) -> None:
    add_pool(db, POOL)
    add_targets(db, [QUOTA] * TARGETS)


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_two_runs_of_the_same_day_assign_it_once(db, database_url, kind):
    _arrange(db)
    outcomes = _run_two(kind, database_url, ("2026-03-02", "2026-03-02"))
    assert sorted(o[1] for o in outcomes) == [0, DAILY]  # one claimed everything, one replayed
    assert sorted(o[3] for o in outcomes) == [False, True]
    assert all(o[2] == DAILY for o in outcomes)
    assert count(db, "SELECT count(*) FROM distribution_assignments") == DAILY
    assert_no_profile_twice(db)


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_two_days_run_at_once_share_the_pool_without_overlap(db, database_url, kind):
    _arrange(db)
    outcomes = _run_two(kind, database_url, ("2026-03-02", "2026-03-03"))
    claimed = sum(o[1] for o in outcomes)
    assert claimed == POOL  # the whole pool went out, 14,400 to one day and the rest to the other
    assert max(o[1] for o in outcomes) <= DAILY
    assert count(db, "SELECT count(*) FROM distribution_assignments") == POOL
    assert count(db, "SELECT count(*) FROM global_usernames WHERE NOT used") == 0
    assert_no_profile_twice(db)
