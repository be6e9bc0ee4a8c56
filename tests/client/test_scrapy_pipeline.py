"""Real Scrapy crawls of a static site served on loopback, sent through the pipeline to the real app."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ..conftest import INGEST_KEY
from .conftest import stored
from .fault_proxy import FaultProxy, Refuse

pytestmark = pytest.mark.slow

PAGES, PER_PAGE = 3, 30  # 90 profiles
SPIDER = Path(__file__).with_name("profile_spider.py")


def write_site(root: Path) -> None:
    """List pages linking to profile pages and to the next list page."""
    for page in range(1, PAGES + 1):
        links = "".join(f'<li><a class="profile" href="/u/{n}.html">@user{n}</a></li>'
                        for n in range((page - 1) * PER_PAGE, page * PER_PAGE))
        following = f'<a class="next" href="/list{page + 1}.html">next</a>' if page < PAGES else ""
        (root / f"list{page}.html").write_text(f"<html><body><ul>{links}</ul>{following}</body></html>")
    (root / "u").mkdir()
    for n in range(PAGES * PER_PAGE):
        (root / "u" / f"{n}.html").write_text(
            f'<html><body><div data-id="{1000 + n}"><h1>User {n}</h1><span class="username">user{n}</span>'
            f'<span class="followers">{n * 7}</span></div></body></html>')


@dataclass
class Site:
    """The site's start URL and when each of its pages was asked for (time.monotonic)."""

    start: str
    requests: list[float] = field(default_factory=list)


@pytest.fixture
def site(tmp_path):
    """The site, served by http.server on a loopback port for the test's length."""
    root = tmp_path / "site"
    root.mkdir()
    write_site(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    server.site = Site(f"http://127.0.0.1:{server.server_address[1]}/list1.html")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.site
    server.shutdown()
    server.server_close()


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.site.requests.append(time.monotonic())
        super().do_GET()

    def log_message(self, format, *args):  # noqa: A002
        pass


def crawl(site: Site, backend_url: str, stats_file: Path, batch_size: int = 20, queued_batches: int = 4) -> dict:
    """`scrapy runspider` as a team runs it; return the crawl's stats."""
    settings = {"SCRAPER_BACKEND_URL": backend_url, "SCRAPER_BACKEND_API_KEY": INGEST_KEY,
                "SCRAPER_BACKEND_BATCH_SIZE": batch_size, "SCRAPER_BACKEND_MAX_QUEUED_BATCHES": queued_batches,
                "SCRAPER_BACKEND_SOURCE": "testsite", "LOG_LEVEL": "INFO"}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "runspider", str(SPIDER), "-a", f"start={site.start}",
         "-a", f"stats_file={stats_file}", *(arg for name, value in settings.items() for arg in
                                              ("-s", f"{name}={value}"))],
        capture_output=True, text=True, timeout=120, cwd=stats_file.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "scraper backend totals" in result.stderr
    assert "Deprecat" not in result.stderr  # the pipeline keeps to the current Scrapy interface
    return json.loads(stats_file.read_text())


def backend_stats(stats: dict) -> dict:
    """The pipeline's totals among a crawl's stats, without their prefix."""
    return {key.split("/", 1)[1]: value for key, value in stats.items() if key.startswith("scraper_backend/")}


def test_two_crawls_first_adds_every_profile_second_finds_them_known(site, backend, db, tmp_path):
    first = crawl(site, backend.url, tmp_path / "first.json")
    assert first["item_scraped_count"] == PAGES * PER_PAGE
    sent = backend_stats(first)
    assert (sent["received"], sent["inserted_raw"], sent["added_to_global"], sent["skipped_existing"]) == (
        90, 90, 90, 0)
    assert (sent["batches"], sent["failed_batches"], sent["rejected"]) == (5, 0, 0)  # 4 of 20, then the rest
    assert db.execute("SELECT username, full_name, profile->>'followers' FROM raw_scraped_profiles"
                      " WHERE profile_id = '1007'").fetchone() == ("user7", "User 7", "49")
    assert db.execute("SELECT count(*), min(source), max(source) FROM global_usernames").fetchone() == (
        90, "testsite", "testsite")

    second = backend_stats(crawl(site, backend.url, tmp_path / "second.json"))
    assert (second["received"], second["inserted_raw"], second["added_to_global"], second["skipped_existing"],
            second["failed_batches"]) == (90, 90, 0, 90, 0)
    assert stored(db)["inserted_raw"] == 180
    assert stored(db)["added_to_global"] == 90


def test_the_crawl_goes_on_while_the_backend_refuses(site, backend, db, tmp_path):
    outage = 3.0
    with FaultProxy(backend.url, Refuse(503, seconds=outage)) as proxy:
        sent = backend_stats(crawl(site, proxy.url, tmp_path / "stats.json", batch_size=3, queued_batches=1))
        started = proxy.seen[0].at
    # Seven profiles fill the queue; a pipeline that waited in the reactor would fetch nothing more
    # until the outage ended. This one keeps crawling: pages are fetched while the backend refuses.
    # (Counted from the first refusal on, not from some later moment: on a fast machine the rest of
    # the crawl may take a few milliseconds.)
    during = [at for at in site.requests if started < at < started + outage]
    assert len(during) >= 10, f"{len(during)} pages fetched during the outage"
    assert (sent["received"], sent["added_to_global"], sent["failed_batches"]) == (90, 90, 0)
    assert stored(db)["added_to_global"] == 90
