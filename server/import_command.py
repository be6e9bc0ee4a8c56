"""`flask --app server ingest-file PATH`: a file of profiles through the endpoint's batch processor."""

from __future__ import annotations

import functools
import itertools
import logging
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import click
import orjson
from flask import current_app
from flask.cli import with_appcontext

from .errors import ApiError, storage_error
from .progress import Progress
from .storage import Store, get_store, own_embedded_server
from .utils.batch_processor import IngestLimits, SourceCounts, process
from .utils.file_records import FORMATS, FileFormatError, guess_format, json_document_source, open_source, \
    read_records

# Recorded as the "API key" of file imports in ingest_requests, so they can be told apart.
CLI_KEY_ID = "cli"
# Smaller than a request's limit: a part's id set and staging table stay small, and a stopped
# import loses less. Measured here, 600,000 rows took 21 s in parts of 50,000 and 33 s in parts of 500,000.
DEFAULT_ROWS_PER_TRANSACTION = 50_000
SUMMED = ("received", "inserted_raw", "added_to_global", "skipped_existing", "duplicates_in_request",
          "rejected")


class _ReportingTransaction:
    """Pass everything to the real transaction; say so on the progress line while it finishes."""

    def __init__(self, txn, on_finish: Callable[[], None]):
        self._txn = txn
        self._on_finish = on_finish

    def __getattr__(self, name: str):
        return getattr(self._txn, name)

    def finish(self):
        self._on_finish()
        return self._txn.finish()


def import_records(records: Iterable[Any], store: Store, limits: IngestLimits, source: str | None,
                   digest: Callable[[], str], on_finish: Callable[[int], None] = lambda part: None
                   ) -> dict[str, Any]:
    """Ingest `records` in transactions of `limits.max_profiles` rows at most; return the summed reply.

    Each part is one `store.begin_ingest` transaction, exactly as one request to the endpoint, so an
    interrupted import keeps the parts already committed and nothing of the part it was in.
    `digest()` is recorded as each part's body hash: the hash of the file's bytes read so far.
    """
    iterator: Iterator[Any] = iter(records)
    summary: dict[str, Any] = {"success": True, "ingest_ids": [], **dict.fromkeys(SUMMED, 0),
                               "errors": [], "errors_truncated": False}
    for part in itertools.count(1):
        first = next(iterator, _END)
        if first is _END:
            break
        part_records = itertools.chain([first], itertools.islice(iterator, limits.max_profiles - 1))
        with store.begin_ingest(CLI_KEY_ID, None) as txn:
            by_source = SourceCounts()
            result = process(part_records, _ReportingTransaction(txn, lambda: on_finish(part)), limits, source,
                             by_source=by_source)
            txn.record(digest(), result, by_source)
        offset = summary["received"]  # error indexes count from the start of the file
        for name in SUMMED:
            summary[name] += result[name]
        summary["ingest_ids"].append(result["ingest_id"])
        room = limits.max_errors_listed - len(summary["errors"])
        summary["errors"] += [{**error, "index": error["index"] + offset} for error in result["errors"][:room]]
        summary["errors_truncated"] = summary["rejected"] > len(summary["errors"])
    return summary


_END = object()


@click.command("ingest-file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "file_format", type=click.Choice(FORMATS),
              help="json, ndjson or csv; by default from the file name (.json, .ndjson/.jsonl, .csv, + .gz)")
@click.option("--source", help="source for profiles that name none (overrides a JSON file's own)")
@click.option("--rows-per-transaction", type=click.IntRange(1), default=DEFAULT_ROWS_PER_TRANSACTION,
              show_default=True, help="rows committed together (at most MAX_PROFILES_PER_REQUEST)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON object")
@click.option("--verbose", is_flag=True, help="also print the batch processor's log lines")
@with_appcontext
def ingest_file(path: Path, file_format: str | None, source: str | None, rows_per_transaction: int,
                as_json: bool, verbose: bool) -> None:
    """Import profiles from PATH (JSON, NDJSON or CSV, optionally .gz) in constant memory."""
    config = current_app.config
    own_embedded_server(config)
    if not verbose:  # its per-chunk lines would break the progress line; back as it was afterwards
        batch_log = logging.getLogger("server.batch_processor")
        click.get_current_context().call_on_close(functools.partial(batch_log.setLevel, batch_log.level))
        batch_log.setLevel(logging.WARNING)
    try:
        file_format = file_format or guess_format(path)
        if file_format == "json" and source is None:
            with open_source(path)[1] as stream:
                source = json_document_source(stream)
    except FileFormatError as exc:
        raise click.ClickException(str(exc)) from None
    limits = IngestLimits.from_config(config, max_profiles=rows_per_transaction)
    counter, stream = open_source(path)
    progress = Progress(path.stat().st_size)

    def counted(records: Iterable[Any]) -> Iterator[Any]:
        for rows, record in enumerate(records, 1):
            progress.update(rows, counter.bytes_read)
            yield record

    def finishing(part: int) -> None:
        progress.update(progress.rows, counter.bytes_read, f"writing part {part}", force=True)

    try:
        with stream:
            records = counted(read_records(stream, file_format, config["MAX_PROFILE_BYTES"]))
            summary = import_records(records, get_store(), limits, source, counter.sha256.hexdigest,
                                     finishing)
    except Exception as exc:  # noqa: BLE001 (reported as one line; the open transaction rolled back)
        failure = exc if isinstance(exc, (FileFormatError, ApiError)) else storage_error(exc)
        if failure is None:
            raise
        progress.finish()
        raise click.ClickException(f"{failure} (rows of the transaction in progress were not written)") from None
    elapsed = progress.finish()
    if not summary["received"]:
        raise click.ClickException(f"{path.name} holds no profiles")
    _print_summary(summary, elapsed, as_json)


def _print_summary(summary: dict[str, Any], elapsed: float, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps({**summary, "seconds": round(elapsed, 3)}).decode())
        return
    for name in SUMMED:
        click.echo(f"{name}: {summary[name]}")
    rate = summary["received"] / elapsed if elapsed > 0 else 0
    click.echo(f"transactions: {len(summary['ingest_ids'])} ({', '.join(summary['ingest_ids'])})")
    click.echo(f"seconds: {elapsed:.1f} ({rate:,.0f} rows/s)")
    for error in summary["errors"]:
        click.echo(f"rejected index {error['index']}: {error['field'] or 'profile'} {error['reason']}")
    if summary["errors_truncated"]:
        click.echo(f"... {summary['rejected'] - len(summary['errors'])} more rejected records not listed")
