"""POST /api/ingest: bulk profiles in, exact counts out; one transaction per request on direct
PostgreSQL, one per chunk over Supabase's REST API (see docs/supabase.md, what each backend guarantees)."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any, Iterable

from flask import Blueprint, current_app, jsonify, request

from ..auth import current_api_key, require_scope
from ..errors import BadRequest, Unprocessable
from ..metrics import record_ingest
from ..ratelimit import limit_group
from ..storage import get_store
from ..utils.batch_processor import IngestLimits, SourceCounts, in_reply_order, process
from ..utils.request_body import HashingReader, body_kind, body_chunks, ndjson_records, parse_json_document

bp = Blueprint("ingest", __name__)

MAX_IDEMPOTENCY_KEY = 255
# A JSON document is parsed whole and its profiles live until they are written: about 7 times the
# body's size for small profiles. One worker holds one large document at a time, so its threads
# cannot stack them up past the machine's memory; small bodies never wait for it.
LARGE_JSON = threading.Lock()


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters",
                         code="invalid_idempotency_key")
    return key


@bp.post("/api/ingest")
@limit_group("ingest")
@require_scope("ingest")
def ingest():
    """Store every valid profile in raw_scraped_profiles and new ids in the pool (atomically on
    direct PostgreSQL; chunk by chunk, resumable under an Idempotency-Key, over REST)."""
    config = current_app.config
    kind = body_kind(request.headers.get("Content-Type"))
    key = _idempotency_key()
    if kind == "json":
        limit, limit_name = min(config["MAX_JSON_BYTES"], config["MAX_CONTENT_LENGTH"]), "MAX_JSON_BYTES"
    else:
        limit, limit_name = config["MAX_CONTENT_LENGTH"], "MAX_CONTENT_LENGTH"
    body = HashingReader(body_chunks(request.stream, request.headers.get("Content-Encoding"),
                                     limit, limit_name))
    # At most INGEST_CONCURRENCY ingests of a worker parse and write at a time: they share its GIL
    # and database connections, and the waiting ones cost a thread each but no CPU, so list reads
    # on the other threads are answered at once instead of queueing behind them.
    turn = current_app.extensions["ingest_turns"]
    with ExitStack() as held:
        if kind == "json":  # a document is read before its turn (waiting on a client is no work)
            data = _buffer_json(body, held, config["JSON_LARGE_BYTES"])
            held.enter_context(turn)
            profiles, source = parse_json_document(data)
            del data  # the parsed profiles are what the rest needs
            records, expected = _drain(profiles), len(profiles)
        else:  # a stream is parsed and written as it arrives, all of it in its turn
            held.enter_context(turn)
            records, expected, source = ndjson_records(iter(body), config["MAX_PROFILE_BYTES"]), None, None
        return _ingest(records, body, key, source, expected)


def _ingest(records: Iterable[Any], body: HashingReader, key: str | None, source: str | None,
            expected: int | None):
    """Write the records through the store's ingest, or replay the answer stored under the key."""
    config = current_app.config
    with get_store().begin_ingest(current_api_key().key_id, key) as txn:
        if txn.previous is not None:  # a retry: answer as the first time, write nothing
            if body.hexdigest() != txn.previous.body_sha256:
                raise Unprocessable("this Idempotency-Key was used with a different body",
                                    code="idempotency_key_reused")
            response = jsonify(in_reply_order(txn.previous.response))
            response.headers["Idempotent-Replayed"] = "true"
            return response
        by_source = SourceCounts()
        result = process(records, txn, IngestLimits.from_config(config), source, expected, by_source)
        txn.record(body.hexdigest(), result, by_source)
    record_ingest(result, by_source)
    return jsonify(result)


def _buffer_json(body: Iterable[bytes], held: ExitStack, large: int) -> bytearray:
    """Read a JSON body whole, taking this worker's large-document slot (LARGE_JSON) as soon as
    it grows past `large` bytes: a thread waiting for the slot holds at most `large` bytes, not a
    whole document of up to MAX_JSON_BYTES. A bytearray grows in place, with no copy to join."""
    data, slot = bytearray(), False
    for piece in body:
        if not slot and len(data) + len(piece) > large:
            held.enter_context(LARGE_JSON)
            slot = True
        data += piece
    return data


def _drain(items: list):
    """Yield a list's items while releasing them, so parsed profiles are freed as they are written."""
    items.reverse()
    while items:
        yield items.pop()
