"""Rate limits per route group: per API key, per address without one, JSON 429 with Retry-After."""

from __future__ import annotations

import pytest

from server import create_app
from server.config import ConfigError
from server.ratelimit import GROUP_SETTINGS, limit_group

from .conftest import ALL_KEY, INGEST_KEY, Ingest, make_config, profiles
from .servers import free_port, redis_url  # noqa: F401 (fixture)
from .spec_check import SpecCheck


@pytest.fixture
def limited_app(db, database_url):
    """An app with the limiter on and a small ingest limit (memory storage, this process)."""
    made = []

    def make(**overrides):
        settings = {"RATELIMIT_ENABLED": True, "RATELIMIT_INGEST": "2/minute", **overrides}
        made.append(create_app(make_config(database_url, **settings)))
        return made[-1]

    yield make
    for app in made:
        app.extensions["store"].close()


def test_over_the_limit_is_a_json_429_with_retry_after(limited_app):
    ingest = Ingest(limited_app().test_client())
    first, second, third = (ingest.json(profiles(1, start=i)) for i in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert third.get_json() == {"error": {
        "code": "rate_limited",
        "message": "rate limit of 2 per 1 minute exceeded; retry after Retry-After seconds",
        "details": {"limit": "2 per 1 minute"}}}
    assert 0 < int(third.headers["Retry-After"]) <= 60
    assert third.headers["X-RateLimit-Limit"] == "2" and third.headers["X-RateLimit-Remaining"] == "0"


def test_allowed_responses_carry_limit_headers_but_no_retry_after(limited_app):
    response = Ingest(limited_app().test_client()).json(profiles(1))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "2"
    assert response.headers["X-RateLimit-Remaining"] == "1"
    assert "Retry-After" not in response.headers


def test_each_api_key_has_its_own_budget(limited_app):
    client = limited_app().test_client()
    by_first, by_second = Ingest(client, INGEST_KEY), Ingest(client, ALL_KEY)
    assert [by_first.json(profiles(1, start=i)).status_code for i in range(3)] == [200, 200, 429]
    assert by_second.json(profiles(1, start=10)).status_code == 200


def test_without_a_key_requests_are_counted_by_client_address(limited_app):
    client = limited_app(PROXY_FIX_X_FOR=1).test_client()

    def anonymous(address: str) -> int:
        return client.post("/api/ingest", json={"profiles": []},
                           headers={"X-Forwarded-For": address}).status_code

    assert [anonymous("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert anonymous("203.0.113.8") == 401  # another client, another budget


def test_forwarded_addresses_count_only_from_a_trusted_proxy(limited_app):
    client = limited_app(PROXY_FIX_X_FOR=1, FORWARDED_ALLOW_IPS="127.0.0.1, 10.0.0.0/8").test_client()

    def anonymous(peer: str, forwarded: str) -> int:
        return client.post("/api/ingest", json={"profiles": []}, environ_base={"REMOTE_ADDR": peer},
                           headers={"X-Forwarded-For": forwarded}).status_code

    # A client reaching the app directly cannot pick a fresh bucket for each request.
    assert [anonymous("203.0.113.50", f"192.0.2.{i}") for i in range(3)] == [401, 401, 429]
    # Behind a trusted proxy (one of a network), the address it forwards is the client's.
    assert [anonymous("10.1.2.3", "192.0.2.77") for _ in range(3)] == [401, 401, 429]
    assert anonymous("10.1.2.3", "192.0.2.78") == 401


def test_an_unknown_key_is_counted_by_address_not_by_key(limited_app):
    client = limited_app().test_client()
    statuses = [Ingest(client, f"guess-{i}-xxxxxxxx").json(profiles(1)).status_code for i in range(3)]
    assert statuses == [401, 401, 429]


def test_the_limit_is_read_from_configuration_at_request_time(limited_app):
    app = limited_app()
    ingest = Ingest(app.test_client())
    app.config["RATELIMIT_INGEST"] = "1/minute"
    assert [ingest.json(profiles(1, start=i)).status_code for i in range(2)] == [200, 429]


def test_an_empty_limit_means_unlimited(limited_app):
    ingest = Ingest(limited_app(RATELIMIT_INGEST="").test_client())
    assert [ingest.json(profiles(1, start=i)).status_code for i in range(4)] == [200] * 4


def test_a_malformed_limit_stops_start_up_naming_the_setting(database_url):
    with pytest.raises(ConfigError, match="RATELIMIT_READ"):
        create_app(make_config(database_url, RATELIMIT_READ="lots"))


def test_every_group_has_a_setting_and_unknown_groups_are_refused():
    assert set(GROUP_SETTINGS) == {"ingest", "read", "run", "admin", "public"}
    with pytest.raises(KeyError):
        limit_group("reads")


def test_with_redis_url_the_counters_live_in_redis(limited_app, redis_url):
    import redis

    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    ingest = Ingest(limited_app(REDIS_URL=redis_url).test_client())
    assert [ingest.json(profiles(1, start=i)).status_code for i in range(3)] == [200, 200, 429]
    keys = store.keys("*group:ingest*")
    assert keys, "the limiter should have written its counter to Redis"
    store.delete(*keys)  # forgetting the counter in Redis resets the budget: it is not kept in memory
    assert ingest.json(profiles(1, start=3)).status_code == 200


def test_when_redis_is_unreachable_requests_are_served_not_refused(limited_app):
    ingest = Ingest(limited_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client())
    assert [ingest.json(profiles(1, start=i)).status_code for i in range(3)] == [200, 200, 200]


@pytest.mark.parametrize("group", sorted(GROUP_SETTINGS))
def test_every_route_counts_against_the_group_its_description_names(limited_app, group):
    """Only `group` limited to 1/minute: its routes refuse a second request, every other route does not."""
    limits = {setting: "1/minute" if name == group else "" for name, setting in GROUP_SETTINGS.items()}
    client = limited_app(PROXY_FIX_X_FOR=1, **limits).test_client()
    spec = client.get("/openapi.json").get_json()
    routes = sorted((path, method, operation["x-rate-limit-group"])
                    for path, operations in spec["paths"].items() for method, operation in operations.items())
    assert {route_group for _, _, route_group in routes} == set(GROUP_SETTINGS)
    for number, (path, method, route_group) in enumerate(routes, start=1):
        address = f"198.51.{sorted(GROUP_SETTINGS).index(group)}.{number}"  # a budget per route
        url = path.format(target_id=1, day="2026-03-02")
        statuses = [client.open(url, method=method.upper(), headers={"X-Forwarded-For": address}).status_code
                    for _ in range(2)]
        assert statuses[0] != 429 and (statuses[1] == 429) == (route_group == group), (method, path, route_group)
        if route_group != "public":  # keyed routes answer 401 without a key, before anything else
            assert statuses[0] == 401


def test_run_and_read_groups_answer_json_429_with_retry_after(limited_app):
    api = SpecCheck(limited_app(RATELIMIT_RUN="1/minute", RATELIMIT_READ="2/minute").test_client(), ALL_KEY)
    assert api.call("post", "/api/distribution/run").status_code == 200
    refused_run = api.call("post", "/api/distribution/run", json={"top_up": True})
    assert api.call("get", "/api/targets").status_code == 200
    assert api.call("get", "/api/stats").status_code == 200
    refused_read = api.call("get", "/api/distribution/{day}", path_params={"day": "2026-03-02"})
    for refused, limit in ((refused_run, "1 per 1 minute"), (refused_read, "2 per 1 minute")):
        assert refused.status_code == 429
        assert refused.get_json()["error"] == {
            "code": "rate_limited", "details": {"limit": limit},
            "message": f"rate limit of {limit} exceeded; retry after Retry-After seconds"}
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Remaining"] == "0"
    # The other groups keep their own budgets.
    assert api.call("post", "/api/distribution/status", json={"updates": [
        {"profile_id": "nobody", "status": "sent"}]}).status_code == 200
