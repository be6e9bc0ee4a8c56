"""`scraper-client push FILE`: a local JSON, NDJSON or CSV file (gzip too) to a backend, resumable."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from .batcher import Batcher
from .client import Client, RetryPolicy
from .files import FORMATS, FileFormatError, Unreadable, guess_format, json_document_source, open_content, \
    read_profiles
from .journal import Journal, JournalMismatch
from .totals import COUNTS, Totals

MAX_UNREADABLE_LISTED = 20


def parser() -> argparse.ArgumentParser:
    """The command line of scraper-client."""
    main = argparse.ArgumentParser(prog="scraper-client", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="send a file of profiles to a backend, resumably",
                               description="Send a file of profiles in batches. Interrupted, the same command "
                                           "resumes where it stopped; nothing is counted twice.")
    push.add_argument("file", type=Path)
    push.add_argument("--url", default=os.environ.get("SCRAPER_BACKEND_URL"),
                      help="the backend's base URL (default: $SCRAPER_BACKEND_URL)")
    push.add_argument("--api-key", default=os.environ.get("SCRAPER_BACKEND_API_KEY"),
                      help="a key with the ingest scope (default: $SCRAPER_BACKEND_API_KEY)")
    push.add_argument("--format", choices=FORMATS, help="by default from the name: .json, .ndjson/.jsonl, .csv (+.gz)")
    push.add_argument("--source", help="source of profiles that name none (else a JSON file's own \"source\")")
    push.add_argument("--batch-size", type=int, default=10_000, help="profiles per request (default 10000)")
    push.add_argument("--max-batch-bytes", type=int, default=16 << 20, help="bytes per request before gzip")
    push.add_argument("--journal", type=Path, help="where progress is recorded (default: FILE.push-journal)")
    push.add_argument("--restart", action="store_true", help="ignore the journal: push the whole file anew")
    push.add_argument("--max-retries", type=int, default=10, help="tries past the first, per batch")
    push.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for an answer")
    push.add_argument("--json", action="store_true", help="print the totals as one JSON object")
    push.add_argument("--quiet", action="store_true", help="no progress bar")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; exit status 0 when every batch was stored, 1 when some were not, 2 when the
    file or its journal cannot be used, 130 when interrupted."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not args.url or not args.api_key:
        print("scraper-client: give --url and --api-key (or set SCRAPER_BACKEND_URL and SCRAPER_BACKEND_API_KEY)",
              file=sys.stderr)
        return 2
    try:
        return push(args)
    except (FileFormatError, JournalMismatch, OSError) as exc:
        print(f"scraper-client: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scraper-client: interrupted; the same command resumes where this one stopped", file=sys.stderr)
        return 130


def push(args: argparse.Namespace) -> int:
    """Send the file, skipping the batches its journal holds; print the totals."""
    path: Path = args.file
    file_format = args.format or guess_format(path)
    source = args.source
    if source is None and file_format == "json":
        with open_content(path)[1] as content:
            source = json_document_source(content)
    stat = path.stat()
    journal = Journal.open(args.journal or path.with_name(path.name + ".push-journal"), {
        "url": args.url.rstrip("/"), "file": str(path.resolve()), "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns, "format": file_format, "source": source, "batch_size": args.batch_size,
        "max_batch_bytes": args.max_batch_bytes}, restart=args.restart)
    if journal.done:
        totals = Totals()
        journal.add_to(totals)
        print(f"already pushed (journal {journal.path}); --restart sends it again", file=sys.stderr)
        _report(totals, [], args.json)
        return 0
    unreadable: list[Unreadable] = []
    with Client(args.url, args.api_key, timeout=args.timeout, retry=RetryPolicy(max_retries=args.max_retries)) as client:
        batcher = Batcher(client, batch_size=args.batch_size, max_batch_bytes=args.max_batch_bytes, source=source,
                          run_id=journal.run_id, skip_batches=set(journal.acknowledged), on_batch=journal.record)
        journal.add_to(batcher.totals)
        try:
            unreadable = _send_file(path, file_format, batcher, args.quiet)
        except BaseException:
            batcher.abandon()  # the journal has every batch acknowledged so far: rerunning resumes
            raise
        totals = batcher.close()
    if not totals.failed_batches:
        journal.finish()
    _report(totals, unreadable, args.json)
    return 1 if totals.failed_batches else 0


def _send_file(path: Path, file_format: str, batcher: Batcher, quiet: bool) -> list[Unreadable]:
    """Add every profile of the file to the batcher; return the lines that could not be read."""
    counter, content = open_content(path)
    bar = None if quiet else ProgressBar(path.stat().st_size)
    unreadable: list[Unreadable] = []
    with content:
        for profile in read_profiles(content, file_format):
            if isinstance(profile, Unreadable):
                unreadable.append(profile)
                continue
            batcher.add(profile)
            if bar:
                bar.show(counter.bytes_read, batcher.added)
    if bar:
        bar.show(counter.bytes_read, batcher.added, final=True)
    return unreadable


class ProgressBar:
    """Share of the file read, profiles, rate and time left, on stderr: redrawn in place on a terminal
    (at most 5 times a second), a line every 10 s elsewhere. A few lines of the standard library
    rather than a dependency, so the client installs with httpx alone."""

    WIDTH = 30

    def __init__(self, total_bytes: int, stream: TextIO | None = None):
        self.total_bytes = max(1, total_bytes)
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.started = self._drawn = time.monotonic()

    def show(self, done_bytes: int, profiles: int, final: bool = False) -> None:
        """Draw the bar if it is time to (always when `final`)."""
        now = time.monotonic()
        if not final and now - self._drawn < (0.2 if self.terminal else 10.0):
            return
        self._drawn = now
        share, elapsed = min(1.0, done_bytes / self.total_bytes), now - self.started
        rate = profiles / elapsed if elapsed > 0 else 0.0
        seconds, label = (elapsed, "took") if final else (elapsed / share - elapsed if share else 0.0, "left")
        line = (f"[{'=' * int(share * self.WIDTH):<{self.WIDTH}}] {share:4.0%}  {profiles:,} profiles  "
                f"{rate:,.0f}/s  {label} {int(seconds) // 60}:{int(seconds) % 60:02d}")
        if self.terminal:
            line = "\r" + line + "\033[K" + ("\n" if final else "")  # \033[K clears what a longer line left
        else:
            line += "\n"
        self.stream.write(line)
        self.stream.flush()


def _report(totals: Totals, unreadable: list[Unreadable], as_json: bool) -> None:
    counts = totals.counts()
    if as_json:
        print(json.dumps({**counts, "unreadable": len(unreadable),
                          "rejections": [r.__dict__ for r in totals.rejections],
                          "failures": [f.__dict__ for f in totals.failures]}))
        return
    for name in COUNTS:
        print(f"{name}: {counts[name]}")
    print(f"unreadable: {len(unreadable)}")
    for line in unreadable[:MAX_UNREADABLE_LISTED]:
        print(f"  line {line.line} not sent: {line.reason}")
    for rejection in totals.rejections[:MAX_UNREADABLE_LISTED]:
        print(f"  profile {rejection.position} (id {rejection.profile_id!r}) rejected: "
              f"{rejection.field or 'profile'} {rejection.reason}")
    for failure in totals.failures:
        print(f"  batch {failure.batch} ({failure.profiles} profiles from {failure.first}) not stored: "
              f"{failure.status or ''} {failure.code}: {failure.message}; run the same command again to retry it")

