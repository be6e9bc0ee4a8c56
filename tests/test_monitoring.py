"""What operators load elsewhere: deploy/prometheus/alerts.yml passes `promtool check rules` and its
unit tests, and every metric it or deploy/grafana/scraper-backend.json names is in a real scrape of
/metrics from Gunicorn, with values that follow what happened."""

from __future__ import annotations

import re
import subprocess
import time

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .conftest import ALL_KEY, INGEST_KEY, ROOT, count
from .servers import GunicornServer, fresh_client, required_tool

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "tests" / "promtool" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "scraper-backend.json"
# Functions, aggregations and keywords of PromQL that the expressions use: every other word is a metric.
PROMQL_WORDS = {"sum", "min", "max", "avg", "count", "rate", "increase", "histogram_quantile", "time", "and", "or",
                "unless", "bool", "offset"}
MAX_REQUESTS = 20  # GUNICORN_MAX_REQUESTS of the served app: workers recycle during the test


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges and grouping labels aside)."""
    for pattern in (r'"[^"]*"', r"\{[^}]*\}", r"\[[^\]]*\]", r"\b(?:by|without|on|ignoring)\s*\([^)]*\)"):
        expr = re.sub(pattern, " ", expr)
    return {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if word not in PROMQL_WORDS}


def alert_expressions() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in orjson.loads(DASHBOARD.read_bytes())["panels"] for target in panel["targets"]]


def test_the_alert_rules_pass_promtool_and_fire_as_their_unit_tests_say():
    promtool = required_tool("promtool", "prometheus")
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS: 7 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", ALERT_TESTS.name], cwd=ALERT_TESTS.parent,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_name_check_finds_metric_names_only():
    assert metric_names('sum by (job, source) (rate(x_total{outcome="a b"}[30m])) / max(y) > 0.2 and time() - z') == {
        "x_total", "y", "z"}


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory, database_url):
    """Gunicorn whose workers recycle after MAX_REQUESTS requests, as GUNICORN_MAX_REQUESTS does in production."""
    server = GunicornServer(tmp_path_factory.mktemp("monitoring"), database_url, RATELIMIT_ENABLED="false",
                            GUNICORN_MAX_REQUESTS=str(MAX_REQUESTS)).start()
    yield server
    server.stop()


def _scrape(http, url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    text = http.get(f"{url}/metrics").text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _value(samples, name: str, **labels: str) -> float:
    return sum(value for (sample, found), value in samples.items()
               if sample == name and set(labels.items()) <= set(found))


def test_every_metric_the_alerts_and_the_dashboard_use_is_served_and_follows_what_happened(gunicorn, db):
    auth, ingest_auth = {"Authorization": f"Bearer {ALL_KEY}"}, {"Authorization": f"Bearer {INGEST_KEY}"}
    with fresh_client() as http:
        body = {"source": "instagram", "profiles": [{"id": f"m{i}", "username": f"m{i}"} for i in range(30)]
                + [{"id": "no-username"}]}
        assert http.post(f"{gunicorn.url}/api/ingest", json=body, headers=ingest_auth).status_code == 200
        assert http.post(f"{gunicorn.url}/api/targets", json={"name": "t", "daily_quota": 10},
                         headers=auth).status_code == 201
        day = http.post(f"{gunicorn.url}/api/distribution/run", json={}, headers=auth).json()["date"]
        for _ in range(3):  # one miss, then hits, whichever worker answers (the cache is shared)
            assert http.get(f"{gunicorn.url}/api/distribution/{day}", headers=auth).status_code == 200
        deadline = time.monotonic() + 30
        while True:  # requests until both workers were recycled once and their successors started
            samples = _scrape(http, gunicorn.url)
            if _value(samples, "worker_recycles_total") >= 2 and _value(samples, "worker_starts_total") >= 4:
                break
            assert time.monotonic() < deadline, "the workers were not recycled"
            for _ in range(MAX_REQUESTS):
                http.get(f"{gunicorn.url}/healthz")

    served = {name for name, _ in samples}
    for expr in alert_expressions() + dashboard_expressions():
        assert metric_names(expr) <= served, (expr, metric_names(expr) - served)
    assert _value(samples, "storage_up") == 1
    assert _value(samples, "pool_profiles", state="unused") == count(db, "SELECT count(*) FROM global_usernames"
                                                                     " WHERE NOT used") == 20
    assert _value(samples, "distribution_daily_quota") == 10
    assert _value(samples, "distribution_last_run_date_seconds") > time.time() - 86400
    assert _value(samples, "ingest_source_profiles_total", source="instagram", outcome="rejected") == 1
    assert _value(samples, "ingest_batch_duration_seconds_count", step="raw") >= 1
    assert _value(samples, "list_cache_requests_total", result="miss") >= 1
    assert _value(samples, "list_cache_requests_total", result="hit") >= 1
