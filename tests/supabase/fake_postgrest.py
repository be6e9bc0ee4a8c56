"""A PostgREST stand-in on the real test database, as strict as Supabase's gateway.

Checked against PostgREST v12.2's source: every request runs in its own transaction on a
connection of its own, logged in as `authenticator` and switched to the API key's role with
`set_config('role', ..., true)` after that role's settings (`statement_timeout`), as
Query.hs does; grants and Row Level Security therefore apply as on Supabase. Functions called
with POST run READ ONLY unless VOLATILE (Plan.hs `callReadPlan`), with their JSON body's fields as
named arguments (QueryBuilder.hs `callPlanToQuery`); errors carry PostgREST's body and the status
that Error.hs `pgErrorStatus` gives their SQLSTATE (see postgrest_errors.py); table reads are capped
at `max_rows`. Requests reach it through respx (in-process) or over HTTP (see serve()).

Failures can be injected per path, before the statement runs (nothing lands) or after it commits
(it landed, but the answer is lost).
"""

from __future__ import annotations

import base64
import csv
import threading
from dataclasses import dataclass
from typing import Any, Callable

import httpx
import orjson
import psycopg
import respx
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from .postgrest_errors import error_response, pg_error_response

SUPABASE_URL = "https://fake-project.supabase.co"
SERVICE_KEY = "fake-service-role-key"
ANON_KEY = "fake-anon-key"
REST = "/rest/v1/"
_FILTERS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NOT_FILTERS = ("select", "order", "limit", "offset", "columns", "on_conflict")


@dataclass
class Failure:
    """How one request to `path` fails: an HTTP error answer or a transport exception."""

    path: str
    passes: bool = False  # a placeholder that lets one request through untouched
    status: int = 503
    code: str | None = None
    exception: type[httpx.TransportError] | None = None
    landed: bool = False
    headers: dict[str, str] | None = None
    action: Callable[[], None] | None = None  # run first, then the request goes through
    when: Callable[[httpx.Request], bool] | None = None  # only requests this accepts

    def answer(self, request: httpx.Request) -> httpx.Response:
        if self.exception is not None:
            raise self.exception("injected failure", request=request)
        body = orjson.dumps({"code": self.code, "message": "injected failure", "details": None,
                             "hint": None}) if self.code else b"<html>upstream error</html>"
        return httpx.Response(self.status, content=body, headers=self.headers)


def chunk_from(start: int) -> Callable[[httpx.Request], bool]:
    """A `when` for ingest_chunk calls whose first row is at position `start`."""
    return lambda request: orjson.loads(request.content)["p_rows"][0]["position"] == start


def key_role(apikey: str | None) -> str | None:
    """The database role an API key runs as, the way Supabase's gateway resolves it; None: refused."""
    if apikey == SERVICE_KEY or (apikey or "").startswith("sb_secret_"):
        return "service_role"
    if apikey == ANON_KEY:
        return "anon"
    if apikey and apikey.count(".") == 2:  # a legacy JWT key: its role claim decides
        payload = apikey.split(".")[1]
        return orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("role")
    return None


class FakePostgrest:
    """A respx router for SUPABASE_URL whose PostgREST requests run on a real database."""

    def __init__(self, conninfo: str, max_rows: int = 1000, pool_size: int = 12):
        self.conninfo = conninfo
        self.pool = ConnectionPool(make_conninfo(conninfo, user="authenticator"), min_size=1,
                                   max_size=pool_size, timeout=10, kwargs={"autocommit": True},
                                   open=True)
        self.max_rows = max_rows
        self.failures: list[Failure] = []
        self.handled = 0  # requests answered, however they came (respx or HTTP)
        self.running = 0  # requests being answered now (one the client gave up on included)
        self._lock = threading.Lock()
        self._functions: dict[str, tuple[list[tuple[str, str]], int, str]] = {}
        self._role_settings = self._load_role_settings()
        self.router = respx.MockRouter(base_url=SUPABASE_URL, assert_all_called=False)
        self.router.route().mock(side_effect=self.handle)

    def fail(self, path: str, times: int = 1, after: int = 0, **how: Any) -> None:
        """Let `after` requests to `path` (e.g. "rpc/claim_ingest") through, then fail `times`;
        `when=predicate` limits both to the requests it accepts."""
        when = how.get("when")
        with self._lock:
            self.failures += [Failure(path, passes=True, when=when) for _ in range(after)]
            self.failures += [Failure(path, **how) for _ in range(times)]

    def before(self, path: str, action: Callable[[], None], after: int = 0,
               when: Callable[[httpx.Request], bool] | None = None) -> None:
        """Run `action` just before request number `after` + 1 to `path` (that `when` accepts) goes through."""
        with self._lock:
            self.failures += [Failure(path, passes=True, when=when) for _ in range(after)]
            self.failures.append(Failure(path, action=action, when=when))

    @property
    def requests(self) -> list[httpx.Request]:
        """Every request sent so far through respx, in order."""
        return [call.request for call in self.router.calls]

    def paths(self) -> list[str]:
        """The REST path of every request so far, e.g. ["rpc/claim_ingest", "rpc/ingest_chunk"]."""
        return [request.url.path.removeprefix(REST) for request in self.requests]

    def close(self) -> None:
        self.pool.close()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as PostgREST behind Supabase's gateway would."""
        with self._lock:
            self.running += 1
        try:
            return self._handle(request)
        finally:
            with self._lock:
                self.running -= 1

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith(REST):
            return error_response(404, "PGRST125", "Invalid path specified in request URL")
        role = key_role(request.headers.get("apikey"))
        if role is None:  # Supabase's gateway refuses the key before PostgREST sees it
            return httpx.Response(401, content=b'{"message":"Invalid API key"}')
        path = request.url.path.removeprefix(REST)
        with self._lock:
            self.handled += 1
            failure = next((f for f in self.failures
                            if f.path == path and (f.when is None or f.when(request))), None)
            if failure is not None:
                self.failures.remove(failure)
        if failure is not None and failure.action is not None:
            failure.action()
            failure = None
        if failure is not None and failure.passes:
            failure = None
        if failure is not None and not failure.landed:
            return failure.answer(request)
        response = self._run(request, path, role)
        return failure.answer(request) if failure is not None else response

    def _run(self, request: httpx.Request, path: str, role: str) -> httpx.Response:
        if "missing=default" in request.headers.get("Prefer", ""):
            raise AssertionError("Prefer: missing=default sends PostgREST down its slow jsonb path")
        read_only = False
        if path.startswith("rpc/"):
            function = self._function(path.removeprefix("rpc/"))
            if function is None:
                return error_response(404, "PGRST202", f"Could not find the function public.{path[4:]}"
                                      " in the schema cache")
            read_only = function[2] != "v"
        try:
            with self.pool.connection() as conn, conn.transaction():
                if read_only:
                    conn.execute("SET TRANSACTION READ ONLY")
                self._pre_request(conn, role, request)
                return self._answer(conn, request, path)
        except PoolTimeout:
            return error_response(504, "PGRST003", "Timed out acquiring connection from connection pool.")
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None:  # could not connect at all
                return error_response(503, "PGRST000", "Database connection error. Retrying the connection.")
            return pg_error_response(exc, authed=role != "anon")
        except psycopg.Error as exc:
            return pg_error_response(exc, authed=role != "anon")

    def _load_role_settings(self) -> dict[str, list[tuple[str, str]]]:
        """Each API role's own settings that a user may set, as PostgREST's queryRoleSettings reads them."""
        with psycopg.connect(self.conninfo) as conn:
            rows = conn.execute(
                "SELECT r.rolname, split_part(kv, '=', 1), lower(split_part(kv, '=', 2))"
                " FROM pg_roles r, unnest(r.rolconfig) kv"
                " JOIN pg_settings s ON s.name = split_part(kv, '=', 1) AND s.context = 'user'"
                " WHERE r.rolname IN ('anon', 'authenticated', 'service_role')").fetchall()
        settings: dict[str, list[tuple[str, str]]] = {}
        for role, name, value in rows:
            settings.setdefault(role, []).append((name, value))
        return settings

    def _pre_request(self, conn: psycopg.Connection, role: str, request: httpx.Request) -> None:
        """PostgREST's first statement: search_path, the role's settings, then the role itself."""
        pairs = [("search_path", '"public", "extensions"'), *self._role_settings.get(role, []),
                 ("role", role), ("request.jwt.claims", orjson.dumps({"role": role}).decode()),
                 ("request.method", request.method), ("request.path", request.url.path)]
        calls = sql.SQL(", ").join(sql.SQL("set_config({}, {}, true)").format(sql.Literal(k), sql.Literal(v))
                                   for k, v in pairs)
        conn.execute(sql.SQL("SELECT ") + calls)

    def _function(self, name: str) -> tuple[list[tuple[str, str]], int, str] | None:
        """A function's (argument names and types, number with defaults, volatility), cached like
        PostgREST's schema cache and reloaded when a name is missing."""
        if name not in self._functions:
            with psycopg.connect(self.conninfo) as conn:
                row = conn.execute(
                    "SELECT array_agg(a.name ORDER BY a.n) FILTER (WHERE a.n IS NOT NULL),"
                    " array_agg(a.type ORDER BY a.n), p.pronargdefaults, p.provolatile FROM pg_proc p"
                    " LEFT JOIN LATERAL unnest(p.proargnames, p.proargtypes::regtype[]::text[])"
                    " WITH ORDINALITY a(name, type, n) ON true"
                    " WHERE p.proname = %s AND p.pronamespace = 'public'::regnamespace"
                    " AND p.prorettype <> 'trigger'::regtype"  # PostgREST's schema cache leaves these out
                    " GROUP BY p.oid, p.pronargdefaults, p.provolatile", [name]).fetchone()
            if row is None:
                return None
            self._functions[name] = (list(zip(row[0] or [], row[1])), row[2], row[3])
        return self._functions[name]

    def _answer(self, conn: psycopg.Connection, request: httpx.Request, path: str) -> httpx.Response:
        if path.startswith("rpc/"):
            return self._call(conn, path.removeprefix("rpc/"), request.content)
        if request.method == "POST":
            return self._insert(conn, path, request)
        if request.method == "GET":
            return self._select(conn, path, request.url.params)
        if request.method == "PATCH":
            return self._update(conn, path, request)
        raise AssertionError(f"the gateway does not serve {request.method} {path}")

    def _call(self, conn: psycopg.Connection, name: str, body: bytes) -> httpx.Response:
        arguments, with_defaults, _ = self._function(name)
        given = set(orjson.loads(body or b"{}"))
        required = {n for n, _ in arguments[:len(arguments) - with_defaults]}
        if not required <= given <= {n for n, _ in arguments}:
            return error_response(404, "PGRST202", f"Could not find the function public.{name}"
                                  f"({', '.join(sorted(given))}) in the schema cache")
        used = [(n, t) for n, t in arguments if n in given]
        # QueryBuilder.hs: the body as one json parameter, its fields as named arguments.
        call = sql.SQL("SELECT to_json({f}({args})) FROM (SELECT %s::json AS json_data) pgrst_payload,"
                       " LATERAL (SELECT * FROM json_to_record(pgrst_payload.json_data) AS _({defs})"
                       " LIMIT 1) pgrst_body").format(
            f=sql.Identifier(name),
            args=sql.SQL(", ").join(sql.SQL("{0} := pgrst_body.{0}").format(sql.Identifier(n)) for n, _ in used),
            defs=sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in used))
        if not used:  # KeyParams []: called with no arguments and no body
            call = sql.SQL("SELECT to_json({f}())").format(f=sql.Identifier(name))
        result = conn.execute(call, [body.decode() or "{}"] if used else []).fetchone()[0]
        return httpx.Response(200, content=orjson.dumps(result))

    def _insert(self, conn: psycopg.Connection, table: str, request: httpx.Request) -> httpx.Response:
        params, prefer = request.url.params, _prefer(request)
        columns = [sql.Identifier(c.strip('"')) for c in params["columns"].split(",")]
        statement = sql.SQL(
            "INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_recordset(NULL::{t}, %s::json)"
        ).format(t=sql.Identifier(table), c=sql.SQL(", ").join(columns))
        if "on_conflict" in params:
            assert prefer.get("resolution") == "ignore-duplicates", "the gateway serves ignore-duplicates only"
            keys = [sql.Identifier(k) for k in params["on_conflict"].split(",")]
            statement += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(sql.SQL(", ").join(keys))
        if prefer.get("return") == "representation":
            statement += sql.SQL(" RETURNING {}").format(_as_object(params["select"], table))
            rows = conn.execute(statement, [request.content.decode()]).fetchall()
            return httpx.Response(201, content=orjson.dumps([row[0] for row in rows]))
        conn.execute(statement, [request.content.decode()])
        return httpx.Response(201)

    def _update(self, conn: psycopg.Connection, table: str, request: httpx.Request) -> httpx.Response:
        params, prefer = request.url.params, _prefer(request)
        body = orjson.loads(request.content)
        where, values = _where(table, params)
        assert values, "the gateway serves filtered updates only"
        assert prefer.get("return") == "representation", "the gateway serves updates that read rows back"
        statement = sql.SQL("UPDATE {t} SET {sets} FROM json_populate_record(NULL::{t}, %s::json) AS _")
        statement = statement.format(t=sql.Identifier(table), sets=sql.SQL(", ").join(
            sql.SQL("{0} = _.{0}").format(sql.Identifier(column)) for column in body))
        statement += where + sql.SQL(" RETURNING {}").format(_as_object(params["select"], table))
        rows = conn.execute(statement, [request.content.decode(), *values]).fetchall()
        return httpx.Response(200, content=orjson.dumps([row[0] for row in rows]))

    def _select(self, conn: psycopg.Connection, table: str, params: httpx.QueryParams) -> httpx.Response:
        where, values = _where(table, params)
        query = sql.SQL("SELECT {s} FROM {t}").format(
            s=_as_object(params.get("select", "*"), table), t=sql.Identifier(table)) + where
        if "order" in params:
            column, _, direction = params["order"].partition(".")
            query += sql.SQL(" ORDER BY {} {}").format(
                sql.Identifier(column), sql.SQL(direction.upper() or "ASC"))
        # PostgREST never returns more than the project's Max rows, whatever limit was asked for.
        limit = min(int(params.get("limit", self.max_rows)), self.max_rows)
        query += sql.SQL(" LIMIT {} OFFSET {}").format(limit, int(params.get("offset", 0)))
        rows = conn.execute(query, values).fetchall()
        return httpx.Response(200, content=orjson.dumps([row[0] for row in rows]))


def _where(table: str, params: httpx.QueryParams) -> tuple[sql.Composable, list[Any]]:
    """The WHERE clause of PostgREST's horizontal filters (`column=op.value`), and its values."""
    conditions, values = [], []
    for column, condition in params.multi_items():
        if column in _NOT_FILTERS:
            continue
        operator, _, operand = condition.partition(".")
        if operator == "in":  # in.(a,b,"c,d"): PostgREST's list, double quotes around odd values
            conditions.append(sql.SQL("{} = ANY (%s)").format(sql.Identifier(table, column)))
            values.append(next(csv.reader([operand.removeprefix("(").removesuffix(")")])))
            continue
        conditions.append(sql.SQL("{} {} %s").format(sql.Identifier(table, column), sql.SQL(_FILTERS[operator])))
        values.append(operand)
    if not conditions:
        return sql.SQL(""), values
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions), values


def _as_object(select: str, table: str) -> sql.Composable:
    """The selected columns of a row as one JSON object, the shape PostgREST answers with."""
    if select == "*":
        return sql.SQL("to_jsonb({})").format(sql.Identifier(table))
    pairs = (sql.SQL("{}, {}").format(sql.Literal(c), sql.Identifier(table, c)) for c in select.split(","))
    return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs))


def _prefer(request: httpx.Request) -> dict[str, str]:
    items = (part.strip().partition("=") for part in request.headers.get("Prefer", "").split(","))
    return {key: value for key, _, value in items if key}
