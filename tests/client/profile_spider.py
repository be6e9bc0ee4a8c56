"""A spider as a scraper team writes one: list pages, profile pages, one item per profile.

Run by the tests with `scrapy runspider`; the backend pipeline comes from the settings alone.
"""

import json

import scrapy


class ProfileSpider(scrapy.Spider):
    """Follow every profile and the next list page from `start`; write the crawl's stats to `stats_file`."""

    name = "profiles"
    custom_settings = {"ITEM_PIPELINES": {"scraper_client.pipeline.ScraperBackendPipeline": 300},
                       "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": False}

    def __init__(self, start: str, stats_file: str, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start]
        self.stats_file = stats_file

    def parse(self, response):
        """A list page: its profiles, and the next list page."""
        yield from response.follow_all(css="a.profile", callback=self.parse_profile)
        yield from response.follow_all(css="a.next")

    def parse_profile(self, response):
        """A profile page: one item."""
        yield {"id": response.css("[data-id]::attr(data-id)").get(),
               "username": response.css(".username::text").get(),
               "full_name": response.css("h1::text").get(),
               "followers": int(response.css(".followers::text").get())}

    def closed(self, reason):
        """Write the stats; this runs after the pipelines closed, so the backend's totals are in."""
        with open(self.stats_file, "w") as file:
            json.dump({"reason": reason, **self.crawler.stats.get_stats()}, file, default=str)
