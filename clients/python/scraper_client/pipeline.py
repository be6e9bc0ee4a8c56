"""A Scrapy item pipeline: every item to the scraper backend in batches, without holding up the crawl.

    ITEM_PIPELINES = {"scraper_client.pipeline.ScraperBackendPipeline": 300}
    SCRAPER_BACKEND_URL = "https://backend.example.com"
    SCRAPER_BACKEND_API_KEY = "..."          # a key with the ingest scope
    SCRAPER_BACKEND_BATCH_SIZE = 1000         # optional
    SCRAPER_BACKEND_SOURCE = "instagram"      # optional: for items that name none
    SCRAPER_BACKEND_MAX_QUEUED_BATCHES = 4    # optional: full batches held while the backend is slow
    SCRAPER_BACKEND_TIMEOUT = 120             # optional: seconds to wait for an answer
"""

from __future__ import annotations

import logging
import queue
from typing import Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads
from twisted.python.threadpool import ThreadPool

from .client import Client
from .totals import Totals

logger = logging.getLogger("scraper_client")
STATS_PREFIX = "scraper_backend/"


class ScraperBackendPipeline:
    """Hands items to a Batcher, whose own thread posts them; sends the rest and records the totals
    in the crawl's stats (`scraper_backend/received`, `.../added_to_global`, ...) when the spider closes.

    When the backend falls behind and the Batcher's queue is full, the item waits in a thread of this
    pipeline's own, so the reactor (downloads, parsing, DNS in Scrapy's thread pool) keeps going.
    """

    def __init__(self, url: str, api_key: str, *, batch_size: int = 1000, max_queued_batches: int = 4,
                 source: str | None = None, timeout: float = 120.0, stats: Any = None):
        self.url, self.api_key, self.timeout, self.stats = url, api_key, timeout, stats
        self.batcher_options = {"batch_size": batch_size, "max_queued_batches": max_queued_batches,
                                "source": source}
        self.client: Client | None = None
        self.batcher = None
        self._waiting: ThreadPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "ScraperBackendPipeline":
        """Read the SCRAPER_BACKEND_* settings; a crawl listing this pipeline without them stops here."""
        settings = crawler.settings
        url, api_key = settings.get("SCRAPER_BACKEND_URL"), settings.get("SCRAPER_BACKEND_API_KEY")
        if not url or not api_key:
            raise ValueError("ScraperBackendPipeline needs the settings SCRAPER_BACKEND_URL and "
                             "SCRAPER_BACKEND_API_KEY")
        return cls(url, api_key, batch_size=settings.getint("SCRAPER_BACKEND_BATCH_SIZE", 1000),
                   max_queued_batches=settings.getint("SCRAPER_BACKEND_MAX_QUEUED_BATCHES", 4),
                   source=settings.get("SCRAPER_BACKEND_SOURCE"),
                   timeout=settings.getfloat("SCRAPER_BACKEND_TIMEOUT", 120.0), stats=crawler.stats)

    def open_spider(self, spider: Any = None) -> None:
        """Connect and start the sender."""
        self.client = Client(self.url, self.api_key, timeout=self.timeout)
        self.batcher = self.client.batcher(**self.batcher_options)
        self._waiting = ThreadPool(1, 1, name="scraper-backend-wait")  # one: waiting items keep their order
        self._waiting.start()
        logger.info("sending items to %s, run %s", self.url, self.batcher.run_id)

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        """Queue the item for sending and pass it on; DropItem if it cannot be sent as JSON."""
        profile = ItemAdapter(item).asdict()
        try:
            try:
                self.batcher.add(profile, block=False)
            except queue.Full:  # the backend is behind: wait for room off the reactor
                from twisted.internet import reactor
                await maybe_deferred_to_future(threads.deferToThreadPool(reactor, self._waiting,
                                                                         self.batcher.add, profile))
        except (TypeError, ValueError) as exc:
            raise DropItem(f"not sent to the scraper backend: {exc}") from None
        return item

    async def close_spider(self, spider: Any = None) -> None:
        """Send what is left, wait for every answer, and put the totals in the stats and the log."""
        from twisted.internet import reactor
        totals = await maybe_deferred_to_future(threads.deferToThreadPool(reactor, self._waiting, self._close))
        self._waiting.stop()
        for name, value in totals.counts().items():
            if self.stats is not None:
                self.stats.set_value(STATS_PREFIX + name, value)
        level = logging.WARNING if totals.failed_batches else logging.INFO
        logger.log(level, "scraper backend totals: %s", ", ".join(f"{k}={v}" for k, v in totals.counts().items()))

    def _close(self) -> Totals:
        try:
            return self.batcher.close()
        finally:
            self.client.close()
