"""Batcher: take profiles one at a time, send them in batches from a background thread."""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import uuid
import weakref
from typing import Any, Callable, Collection

from .batch import Batch, batch_key, check_run_id, encode_profile
from .client import Client, Delivery, IngestError
from .totals import BatchFailure, Totals

logger = logging.getLogger("scraper_client")
_STOP = object()
# Batchers not closed yet: closed at interpreter exit, so a script that forgets close() loses nothing.
_OPEN: "weakref.WeakSet[Batcher]" = weakref.WeakSet()


class Batcher:
    """Collect profiles into batches of at most `batch_size` profiles and `max_batch_bytes` bytes, and
    send each from one background thread, in order, through `client` (retries included).

    Batch n of a run is sent under the Idempotency-Key "<run_id>-<n>", so a retry can never store it
    twice and another run can never collide with it. `run_id` defaults to a random one; give the
    same one (with the same profiles in the same order) only to finish an interrupted run.

    At most `max_queued_batches` full batches wait for the sender: past that `add` blocks, so memory
    stays bounded when the server is slower than the scraper. `flush()` and `close()` return once
    every batch added so far is acknowledged or reported in `totals.failures`.
    """

    def __init__(self, client: Client, *, batch_size: int = 1000, max_batch_bytes: int = 8 << 20,
                 max_queued_batches: int = 4, source: str | None = None, run_id: str | None = None,
                 skip_batches: Collection[int] = (),
                 on_batch: Callable[[Batch, Delivery | IngestError], None] | None = None):
        if batch_size < 1 or max_batch_bytes < 1 or max_queued_batches < 1:
            raise ValueError("batch_size, max_batch_bytes and max_queued_batches must be positive")
        self.client = client
        self.batch_size, self.max_batch_bytes = batch_size, max_batch_bytes
        self.source = source
        self.run_id = check_run_id(run_id) if run_id is not None else uuid.uuid4().hex
        self.totals = Totals()
        # Batches an earlier, interrupted run saw acknowledged: numbered and skipped, not sent.
        self._skip = frozenset(skip_batches)
        self._on_batch = on_batch
        self._queue: queue.Queue = queue.Queue(max_queued_batches)
        self._lock = threading.Lock()  # one adder at a time builds the current batch
        self._added = 0
        self._current = self._new_batch(1)
        self._closed = False
        self._sender = threading.Thread(target=self._send_all, name="scraper-client-sender", daemon=True)
        self._sender.start()
        _OPEN.add(self)

    def add(self, profile: Any, block: bool = True, timeout: float | None = None) -> None:
        """Queue one profile (a JSON-able mapping). Raises TypeError or ValueError for what JSON
        cannot carry, and queue.Full, without taking the profile, when it would have to wait
        longer than `timeout` (at all, if not `block`) for the sender."""
        if self.source is not None and isinstance(profile, dict) and "source" not in profile:
            profile = {**profile, "source": self.source}
        line = encode_profile(profile)
        if not self._lock.acquire(block, -1 if timeout is None or not block else timeout):
            raise queue.Full  # another adder is waiting for room
        try:
            if self._closed:
                raise RuntimeError("this Batcher is closed")
            batch = self._current
            if batch.lines and (len(batch.lines) >= self.batch_size or batch.size + len(line) > self.max_batch_bytes):
                self._seal(block, timeout)
                batch = self._current
            batch.add(line)
            self._added += 1
        finally:
            self._lock.release()

    def flush(self) -> Totals:
        """Send what is held now and wait until every batch so far is acknowledged or failed."""
        with self._lock:
            if self._closed:  # closed: nothing left to wait for; abandoned: nothing will be sent
                return self.totals.snapshot()
            if self._current.lines:
                self._seal(True, None)
        self._queue.join()
        return self.totals.snapshot()

    def close(self) -> Totals:
        """Flush, then stop the sender thread; the totals are final."""
        with self._lock:
            if self._closed:
                return self.totals.snapshot()
            if self._current.lines:
                self._seal(True, None)
            self._closed = True
        self._queue.put(_STOP)
        self._sender.join()
        _OPEN.discard(self)
        return self.totals.snapshot()

    def abandon(self) -> None:
        """Stop at once, sending nothing more: for a run that can be resumed (the same run_id and
        profiles), e.g. on Ctrl-C. A batch in flight may still land; its retry will be answered."""
        self._closed = True
        _OPEN.discard(self)
        while True:  # unblock a waiting adder; the sender thread, a daemon, ends with the process
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    @property
    def added(self) -> int:
        """Profiles taken by `add` so far."""
        return self._added

    def __enter__(self) -> "Batcher":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _new_batch(self, number: int) -> Batch:
        return Batch(number, batch_key(self.run_id, number), self._added)

    def _seal(self, block: bool, timeout: float | None) -> None:
        """Hand the current batch to the sender (lock held) and start the next one."""
        batch = self._current
        if batch.number not in self._skip:
            self._queue.put(batch, block, timeout)  # queue.Full leaves the batch current, untouched
        self._current = self._new_batch(batch.number + 1)

    def _send_all(self) -> None:
        while (batch := self._queue.get()) is not _STOP:
            try:
                self._send(batch)
            except Exception:  # noqa: BLE001 (a bug must not hang flush(); the batch is reported)
                logger.exception("batch %s: unexpected error", batch.number)
                self._failed(batch, IngestError("unexpected client error; see the log", code="client_error"))
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _send(self, batch: Batch) -> None:
        try:
            delivery = self.client.send(batch)
        except IngestError as error:
            self._failed(batch, error)
            return
        rejections = batch.rejections(delivery.answer)
        for rejection in rejections[:20]:  # the count is exact in the totals; the log gives examples
            logger.warning("profile %d (id %r) rejected: %s %s", rejection.position, rejection.profile_id,
                           rejection.field or "profile", rejection.reason)
        self.totals.add_requests(delivery.attempts)
        self.totals.add_answer(delivery.answer, delivery.replayed, rejections)
        self._report(batch, delivery)

    def _failed(self, batch: Batch, error: IngestError) -> None:
        logger.error("batch %s (%d profiles from %d, key %s) not stored: %s %s", batch.number, len(batch.lines),
                     batch.first, batch.key, error.code, error.message)
        self.totals.add_requests(error.attempts)
        self.totals.add_failure(BatchFailure(batch.number, batch.key, batch.first, len(batch.lines), error.status,
                                             error.code, error.message))
        self._report(batch, error)

    def _report(self, batch: Batch, outcome: Delivery | IngestError) -> None:
        """Tell `on_batch`; its failure is logged, as the batch is already counted."""
        if self._on_batch is None:
            return
        try:
            self._on_batch(batch, outcome)
        except Exception:  # noqa: BLE001
            logger.exception("on_batch failed for batch %s", batch.number)


@atexit.register
def _close_open_batchers() -> None:
    for batcher in list(_OPEN):
        batcher.close()
