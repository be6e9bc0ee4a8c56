"""The distribution routes through create_app with STORAGE_BACKEND=supabase: the same contract as direct."""

from __future__ import annotations

from ..conftest import Ingest, count, profiles
from ..distribution_helpers import DistributionApi
from ..test_admin_listing_retention import (  # noqa: F401 (collected again here, against the Supabase app)
    admin,
    test_listing_checks_its_range_and_cursor,
    test_pool_rows_of_a_date_range_come_once_each_in_order,
    test_raw_rows_of_a_date_range_come_once_each_in_order,
)
from ..test_distribution_api import (  # noqa: F401 (collected again here, against the Supabase app)
    api,
    test_an_invalid_update_changes_nothing,
    test_duplicate_target_names_conflict_and_missing_targets_are_404,
    test_invalid_targets_are_400_naming_the_field,
    test_limits_cursors_and_targets_are_checked,
    test_pages_return_every_assignment_exactly_once_in_order,
    test_release_returns_old_unsent_profiles_to_the_pool_and_keeps_the_rest,
    test_run_defaults_to_today_and_validates_its_options,
    test_stats_count_the_pool_the_ingests_of_each_day_and_a_dates_distribution,
    test_status_updates_in_bulk_report_unknown_ids_and_show_in_the_list,
    test_targets_can_be_created_listed_changed_and_deactivated,
)

DAY = "2026-03-02"
TARGETS, RUN, LIST = "distribution_targets", "rpc/distribution_run", "rpc/distribution_list"
STATUS, STATS = "rpc/distribution_set_status", "rpc/distribution_stats"


def test_the_contract_tests_here_really_go_through_supabase(api, fake, db):
    api.target("t", 1)
    api.run(DAY)
    assert fake.paths() == [TARGETS, RUN]


def test_a_day_of_distribution_over_rest_from_ingest_to_stats(api, client, fake, db):
    Ingest(client).json(profiles(2500), source="instagram")
    targets = [api.target(f"outreach-{n}", 1000)["id"] for n in range(3)]
    before = len(fake.requests)

    summary = api.run(DAY)
    assert (summary["assigned"], summary["shortfall"], summary["claimed"]) == (2500, 500, 2500)
    assert [t["assigned"] for t in summary["targets"]] == [834, 833, 833]  # a short pool, shared fairly

    pages = api.pages(DAY, limit=1000)
    items = [item for page in pages for item in page["items"]]
    assert [len(page["items"]) for page in pages] == [1000, 1000, 500]
    assert len({item["profile_id"] for item in items}) == 2500
    assert [item["target"] for item in items] == sorted(item["target"] for item in items)
    assert {item["source"] for item in items} == {"instagram"}
    assert api.get(f"/api/distribution/{DAY}", limit=1000).get_json() == pages[0]  # cached: no request

    chosen = [items[0]["profile_id"], items[-1]["profile_id"]]
    reply = api.post("/api/distribution/status", {"updates": [
        {"profile_id": chosen[0], "status": "sent"}, {"profile_id": chosen[1], "status": "replied"},
        {"profile_id": "nobody", "status": "sent"}]}).get_json()
    assert reply == {"received": 3, "updated": 2, "unknown": ["nobody"]}
    first_page = api.get(f"/api/distribution/{DAY}", limit=1000).get_json()  # invalidated: read again
    assert first_page["items"][0]["status"] == "sent"

    stats = api.get("/api/stats", date=DAY, days=1).get_json()
    assert stats["pool"] == {"total": 2500, "unused": 0, "used": 2500}
    assert stats["distribution"]["by_status"] == {"assigned": 2498, "sent": 1, "replied": 1}
    assert [t["target"] for t in stats["distribution"]["targets"]] == targets

    assert fake.paths()[before:] == [RUN, LIST, LIST, LIST, STATUS, LIST, STATS]
    assert count(db, "SELECT count(*) FROM distribution_assignments") == 2500


def test_the_cli_runs_the_distribution_over_rest(app, fake, db):
    DistributionApi(app.test_client()).target("t", 2)
    result = app.test_cli_runner().invoke(args=["distribute", "--date", DAY])
    assert result.exit_code == 0, result.output
    assert '"assigned": 0' in result.output and '"shortfall": 2' in result.output  # an empty pool
    assert fake.paths()[-1] == RUN
