"""The status page in a real browser: headless chromium against Gunicorn. It shows nothing until it
is given a key, then the numbers GET /api/status answers; the key lives in the tab's sessionStorage
and no cookie is ever set. The screenshot it saves is the README's (test-artifacts/status-page.png)."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from server.tasks import today

from .conftest import ADMIN_KEY, INGEST_KEY, ROOT
from .servers import GunicornServer, browser  # noqa: F401 (a fixture)
from .status_helpers import add_history, arrange_day

ARTIFACTS = ROOT / "test-artifacts"
STORED_KEY = "return sessionStorage.getItem('scraper-status-key')"
WAIT_SECONDS = 20


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory, database_url):
    """Gunicorn serving the test database (its data is made in each test, through the test client)."""
    server = GunicornServer(tmp_path_factory.mktemp("status-page"), database_url, RATELIMIT_ENABLED="false").start()
    yield server
    server.stop()


def _shown(driver, selector: str) -> dict[str, str]:
    return {element.get_attribute("data-field"): element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)}


def _wait_for_panel(driver) -> None:
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-field="pool.total"]'))


def test_the_page_shows_the_apis_numbers_once_given_a_key_and_keeps_it_in_the_tab_only(
        gunicorn, browser, app, client, db):
    with app.app_context():
        day = today().isoformat()
    add_history(db, day)
    arrange_day(client, day)
    report = httpx.get(f"{gunicorn.url}/api/status", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()

    browser.get(f"{gunicorn.url}/status")
    assert browser.find_element(By.ID, "panel").text == "" and not browser.find_elements(By.CSS_SELECTOR, "[data-field]")
    browser.find_element(By.ID, "key").send_keys(ADMIN_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    _wait_for_panel(browser)

    pool = report["pool"]
    assert _shown(browser, "dd[data-field]") == {
        "pool.total": f"{pool['total']:,}", "pool.unused": f"{pool['unused']:,}", "pool.used": f"{pool['used']:,}",
        "pool.daily_quota": f"{pool['daily_quota']:,}", "pool.days_left": str(pool["days_left"])}
    for target in report["distribution"]["targets"]:
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-target="{target["target"]}"]')
        assert _shown(row, "td[data-field]") == {
            "quota": f"{target['quota']:,}", "assigned": f"{target['assigned']:,}",
            "shortfall": f"{target['shortfall']:,}",
            "by_status": ", ".join(f"{status} {count:,}" for status, count in sorted(target["by_status"].items()))}
    for source in report["ingest"]["per_source"]:
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-source="{source["source"] or ""}"]')
        assert _shown(row, "td[data-field]") == {"received": f"{source['received']:,}",
                                                 "rejected": f"{source['rejected']:,}"}
    latest = report["ingest"]["per_day"][-1]
    assert _shown(browser, "span[data-field]") == {"today.received": f"{latest['received']:,}",
                                                   "today.added": f"{latest['added_to_global']:,}",
                                                   "today.rejected": f"{latest['rejected']:,}"}
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-ingest]")) == len(report["recent_ingests"]) == 20
    assert browser.find_element(By.CSS_SELECTOR, '[data-field="pool.warning"]').is_displayed()
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.rejected")) >= 30
    assert browser.execute_script(STORED_KEY) == ADMIN_KEY
    assert browser.execute_script("return document.cookie") == "" and browser.get_cookies() == []
    print(browser.find_element(By.ID, "loaded").text)  # the panel's load time, as the page measured it
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "status-page.png"))

    browser.refresh()  # the tab keeps the key: no second prompt
    _wait_for_panel(browser)
    browser.find_element(By.CSS_SELECTOR, 'a.json[href^="/api/status?"]').click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.find_element(By.ID, "json-body").text)
    assert '"unused": %d' % pool["unused"] in browser.find_element(By.ID, "json-body").text

    browser.find_element(By.ID, "forget").click()
    assert browser.execute_script(STORED_KEY) is None and not browser.find_elements(By.CSS_SELECTOR, "[data-field]")


def test_a_key_without_the_admin_scope_is_refused_and_not_kept(gunicorn, browser, db):
    browser.get(f"{gunicorn.url}/status")
    browser.find_element(By.ID, "key").send_keys(INGEST_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.find_element(By.ID, "key-error").text)
    assert "admin" in browser.find_element(By.ID, "key-error").text
    assert browser.execute_script(STORED_KEY) is None and browser.find_element(By.ID, "panel").text == ""
