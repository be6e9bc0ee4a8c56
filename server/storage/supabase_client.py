"""Supabase's REST API from one worker: the HTTP client, the retry policy, error mapping, paging."""

from __future__ import annotations

import logging
import random
from typing import Any, Callable, Mapping, TypeVar

import httpx
import orjson
from postgrest.exceptions import APIError, generate_default_error_message
from supabase import Client, ClientOptions, create_client
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ..errors import ApiError, Conflict, StorageUnavailable, Unprocessable
from ..metrics import get_metrics

logger = logging.getLogger("server.storage.supabase")

T = TypeVar("T")

ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_WAIT_SECONDS = 10.0
# Supabase's default "Max rows": PostgREST never returns more rows than this in one response.
PAGE_SIZE = 1000
# PostgREST answers these when the table or function is not there: the set-up SQL was not run.
SCHEMA_MISSING_CODES = frozenset({"PGRST202", "PGRST205", "42P01", "42883"})


# What is worth another attempt, by PostgREST's code (its Error.hs maps SQLSTATEs to statuses):
# serialization failures and deadlocks, a connection lost or refused, the database short of
# resources, an administrator's shutdown, and PostgREST's own connection and pool errors.
TRANSIENT_CODES = frozenset({"40001", "40P01", "57P01", "PGRST000", "PGRST001", "PGRST002", "PGRST003"})
TRANSIENT_CLASSES = ("08", "53")
# 53400 (configuration_limit_exceeded) is of class 53 but no retry will ever fit it.
PERMANENT_CODES = frozenset({"53400"})
# A gateway's own error page (no PostgREST code): Supabase's proxy and Cloudflare's 52x pages.
GATEWAY_STATUSES = frozenset({502, 503, 504, 520, 521, 522, 523, 524})


class TransientResponse(Exception):
    """Supabase answered with a failure that the same request may well not meet a moment later."""

    def __init__(self, status: int, code: str | None, retry_after: float | None):
        super().__init__(f"Supabase answered HTTP {status}" + (f" ({code})" if code else ""))
        self.status = status
        self.code = code
        self.retry_after = retry_after


class StatementTimeout(StorageUnavailable):
    """PostgreSQL cancelled a statement (SQLSTATE 57014): retry it smaller, not the same."""

    code = "statement_timeout"


def _postgrest_code(response: httpx.Response) -> str | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:  # a gateway's HTML error page
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) and code else None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):  # absent, or an HTTP date: fall back to our own back-off
        return None


def is_transient_answer(status: int, code: str | None, retry_after: float | None) -> bool:
    """Whether an error answer is worth repeating: only what a moment can change (see the codes)."""
    if code is not None:
        if code in PERMANENT_CODES:
            return False
        return code in TRANSIENT_CODES or code[:2] in TRANSIENT_CLASSES
    if status == 429:
        return retry_after is not None  # a rate limit that says when; else it is no moment's matter
    return status == 408 or status in GATEWAY_STATUSES


def check_response(response: httpx.Response) -> None:
    """Raise for the answers worth retrying, before supabase-py turns them into a bare APIError.

    supabase-py's APIError keeps the PostgREST code but not the HTTP status, and a gateway's 502
    page has no code at all; so the answer is judged here, on the raw response. Everything else
    that failed (PostgREST answers many permanent errors with 500) goes on to supabase-py, which
    raises it as an APIError: a permanent error, never retried.
    """
    status = response.status_code
    if status < 400:
        return
    response.read()
    code = _postgrest_code(response)
    if code == "57014":
        raise StatementTimeout("a database statement timed out; retry later")
    retry_after = _retry_after(response)
    if is_transient_answer(status, code, retry_after):
        raise TransientResponse(status, code, retry_after)


def drop_non_jwt_bearer(request: httpx.Request) -> None:
    """Send a new-style secret key (sb_secret_...) only as `apikey`, never as a Bearer token.

    supabase-py puts the key in both headers; that suits the legacy service_role key (a JWT),
    but a secret key is no JWT, and PostgREST refuses a Bearer value it cannot parse (PGRST301).
    """
    if request.headers.get("Authorization", "").startswith("Bearer sb_"):
        del request.headers["Authorization"]


def make_http_client(config: Mapping[str, Any]) -> httpx.Client:
    """An HTTP/1.1 client with explicit timeouts, for one process.

    supabase-py's default HTTP/2 connection is long-lived and shared by every request; once the
    gateway drops it, they fail with `RemoteProtocolError: Server disconnected`. HTTP/1.1
    connections idle at most 5 s here, so we close them before the gateway does, and the rare
    disconnect that still happens is retried like any transport error.
    """
    timeout = float(config["SUPABASE_TIMEOUT_SECONDS"])
    return httpx.Client(
        http1=True, http2=False, follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_SECONDS, pool=timeout),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=5.0),
        event_hooks={"request": [drop_non_jwt_bearer], "response": [check_response]})


def make_client(config: Mapping[str, Any], http: httpx.Client) -> Client:
    """A supabase-py client on `http`, for server use: no session, no built-in retries."""
    options = ClientOptions(
        httpx_client=http, auto_refresh_token=False, persist_session=False,
        postgrest_client_retry=False)  # RetryPolicy covers writes too, not only GET
    client = create_client(config["SUPABASE_URL"], config["SUPABASE_SERVICE_ROLE_KEY"], options)
    client.postgrest  # noqa: B018 (built lazily by supabase-py; build it now, not racing in threads)
    return client


def post_rpc(client: Client, function: str, body: bytes) -> Any:
    """Call SQL function `function` with a JSON body the caller encoded; return its JSON result.

    The same request as `client.rpc(function, params).execute()` (supabase-py's session, URL and
    headers, the same APIError on failure), but supabase-py encodes params with the standard json
    module, where a chunk's body is built with orjson and the profiles spliced in as they were
    received: on 1000-profile chunks that took the client's share of a request from about a third
    to a tenth (see bench/README.md, Supabase REST path).
    """
    postgrest = client.postgrest
    response = postgrest.session.post(str(postgrest.base_url.joinpath("rpc", function)), content=body,
                                      headers={**postgrest.headers, "Content-Type": "application/json"})
    if response.is_success:
        return orjson.loads(response.content)
    try:
        error = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        error = None
    raise APIError(error if isinstance(error, dict) else generate_default_error_message(response))


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: the network failed, timed out, or the answer was a transient one."""
    return isinstance(exc, (TransientResponse, httpx.TimeoutException, httpx.NetworkError,
                            httpx.RemoteProtocolError))


def backoff_seconds(exc: BaseException | None, attempt: int, base: float) -> float:
    """Wait before attempt `attempt + 1`: base * 2^(attempt-1) plus jitter, or what Retry-After asks."""
    wait = base * 2 ** (attempt - 1) + random.uniform(0, base)
    if isinstance(exc, TransientResponse) and exc.retry_after is not None:
        wait = max(wait, exc.retry_after)
    return min(wait, MAX_WAIT_SECONDS)


def worst_case_seconds(config: Mapping[str, Any]) -> int:
    """The longest one REST call may take with its retries: every attempt timing out, the waits."""
    timeout = float(config["SUPABASE_TIMEOUT_SECONDS"])
    return int(ATTEMPTS * (timeout + CONNECT_TIMEOUT_SECONDS) + (ATTEMPTS - 1) * MAX_WAIT_SECONDS) + 1


def rejected(exc: APIError) -> ApiError:
    """Map a request Supabase refused for good: 422 for bad data, 409 for a lost claim, else 500."""
    code = exc.code or ""
    if code == "PT409":  # ingest_chunk / record_ingest: another attempt took the Idempotency-Key over
        return Conflict("another request with this Idempotency-Key took it over; retry to get its answer",
                        code="idempotency_in_progress")
    if code == "PT422":  # ingest_chunk: a resumed ingest met rows of another body at its positions
        return Unprocessable("this Idempotency-Key was used with a different body", code="idempotency_key_reused")
    logger.error("Supabase refused a request: code=%s message=%s hint=%s", code, exc.message, exc.hint)
    if code[:2] in ("22", "23"):  # data exceptions and constraint violations
        # Our own words: PostgREST's message names tables, columns and constraints (it is logged).
        reason = "a value does not fit its column" if code[:2] == "22" else "a value breaks a rule of the table"
        return Unprocessable(f"the database refused the data: {reason}", code="rejected_by_database",
                             details={"postgrest_code": code})
    return ApiError("Supabase refused the request; check the set-up SQL and SUPABASE_SERVICE_ROLE_KEY",
                    status=500, code="storage_rejected", details={"postgrest_code": code or None})


class RetryPolicy:
    """Run a unit of REST work with tenacity: 3 attempts, only on transient failures."""

    def __init__(self, backoff_ms: int):
        self.base = backoff_ms / 1000

    def _wait(self, state: RetryCallState) -> float:
        return backoff_seconds(state.outcome.exception(), state.attempt_number, self.base)

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        get_metrics().supabase_retries.inc()
        logger.warning("Supabase request failed (%s); attempt %d of %d follows",
                       state.outcome.exception(), state.attempt_number + 1, ATTEMPTS)

    def run(self, work: Callable[[], T]) -> T:
        """Return work()'s result; raise StorageUnavailable when every attempt failed transiently.

        `work` may send several requests; it must be safe to repeat as a whole, because a
        timed-out request may have been carried out by the server all the same.
        """
        retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=self._wait, reraise=True,
                            retry=retry_if_exception(is_transient), before_sleep=self._log_retry)
        try:
            return retrying(work)
        except APIError as exc:
            raise rejected(exc) from exc
        except Exception as exc:
            if not is_transient(exc):
                raise
            logger.error("Supabase unreachable after %d attempts: %s", ATTEMPTS, exc)
            raise StorageUnavailable("Supabase is unreachable; retry later") from exc


def fetch_all(run: Callable[[Callable[[Client], Any]], Any], query: Callable[[Client], Any], *,
              key: str, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Read every row a PostgREST select returns, past the project's row cap, in pages by `key`.

    `run` is SupabaseStore.run (retries, error mapping); `query(client)` builds a fresh filtered
    select such as `lambda c: c.table("t").select("id,name").eq("day", day)`; `key` is a column
    unique within the result. Pages are keyset pages (`key > last`, ordered by key), so a late
    page costs what the first does; reading stops at the first empty page, not at a short one,
    because a project whose Max rows is below `page_size` returns short pages before the end.
    """
    rows: list[dict[str, Any]] = []
    while True:
        after = rows[-1][key] if rows else None

        def page(client: Client) -> list[dict[str, Any]]:
            builder = query(client)
            if after is not None:
                builder = builder.gt(key, after)
            return builder.order(key).limit(page_size).execute().data

        batch = run(page)
        if not batch:
            return rows
        rows.extend(batch)
