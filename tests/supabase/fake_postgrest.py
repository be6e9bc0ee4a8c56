"""Supabase's REST API faked at the HTTP level with respx, answered by the real test database.

Only the HTTP hop is fake: each request runs as one SQL statement on the embedded PostgreSQL, the
way PostgREST runs it (inserts with ON CONFLICT, updates, functions called with their named
arguments, STABLE ones in a read-only transaction), so rows, counts and the SQL functions are real.
Failures can be injected per path, before the statement runs (nothing lands) or after it (it
landed, but the answer is lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import psycopg
import respx
from psycopg import sql

SUPABASE_URL = "https://fake-project.supabase.co"
SERVICE_KEY = "fake-service-role-key"
REST = "/rest/v1/"
_HTTP_STATUS = {"57014": 500, "23505": 409, "23503": 409, "25006": 405}


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

    def answer(self, request: httpx.Request) -> httpx.Response:
        if self.exception is not None:
            raise self.exception("injected failure", request=request)
        body = orjson.dumps({"code": self.code, "message": "injected failure", "details": None,
                             "hint": None}) if self.code else b"<html>upstream error</html>"
        return httpx.Response(self.status, content=body, headers=self.headers)


class FakePostgrest:
    """A respx router for SUPABASE_URL whose PostgREST requests run on a real database."""

    def __init__(self, conninfo: str, max_rows: int = 1000):
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.max_rows = max_rows
        self.failures: list[Failure] = []
        self.router = respx.MockRouter(base_url=SUPABASE_URL, assert_all_called=False)
        self.router.route().mock(side_effect=self.handle)

    def fail(self, path: str, times: int = 1, after: int = 0, **how: Any) -> None:
        """Let `after` requests to `path` (e.g. "rpc/claim_ingest") through, then fail `times`."""
        self.failures += [Failure(path, passes=True) for _ in range(after)]
        self.failures += [Failure(path, **how) for _ in range(times)]

    @property
    def requests(self) -> list[httpx.Request]:
        """Every request sent so far, in order."""
        return [call.request for call in self.router.calls]

    def paths(self) -> list[str]:
        """The REST path of every request so far, e.g. ["rpc/claim_ingest", "raw_scraped_profiles"]."""
        return [request.url.path.removeprefix(REST) for request in self.requests]

    def close(self) -> None:
        self.conn.close()

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.startswith(REST), request.url
        if request.headers.get("apikey") != SERVICE_KEY:
            return _error(401, "PGRST301", "invalid API key")
        path = request.url.path.removeprefix(REST)
        failure = next((f for f in self.failures if f.path == path), None)
        if failure is not None:
            self.failures.remove(failure)
            if failure.passes:
                failure = None
            elif not failure.landed:
                return failure.answer(request)
        try:
            response = self._answer(request, path)
        except psycopg.Error as exc:
            code = exc.sqlstate or "XX000"
            status = _HTTP_STATUS.get(code, 400 if code[:2] in ("22", "23") else 500)
            return _error(status, code, str(exc))
        return failure.answer(request) if failure is not None else response

    def _answer(self, request: httpx.Request, path: str) -> httpx.Response:
        if path.startswith("rpc/"):
            return self._call(path.removeprefix("rpc/"), orjson.loads(request.content))
        if request.method == "POST":
            return self._insert(path, request)
        if request.method == "GET":
            return self._select(path, request.url.params)
        if request.method == "PATCH":
            return self._update(path, request)
        raise AssertionError(f"the fake does not serve {request.method} {path}")

    def _call(self, function: str, args: dict[str, Any]) -> httpx.Response:
        declared = self.conn.execute(
            "SELECT unnest(proargnames), unnest(proargtypes::regtype[]::text[]), provolatile FROM pg_proc"
            " WHERE proname = %s AND pronamespace = 'public'::regnamespace", [function]).fetchall()
        if not declared or {name for name, _, _ in declared} != set(args):
            return _error(404, "PGRST202", f"Could not find the function public.{function}")
        # PostgREST's own way: the JSON body as a record, its fields as named arguments.
        call = sql.SQL("SELECT to_jsonb({f}({args})) FROM json_to_record(%s::json) AS _({defs})").format(
            f=sql.Identifier(function),
            args=sql.SQL(", ").join(
                sql.SQL("{0} => _.{0}").format(sql.Identifier(n)) for n, _, _ in declared),
            defs=sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t, _ in declared))
        with self.conn.transaction():
            if declared[0][2] != "v":  # PostgREST runs STABLE and IMMUTABLE functions read-only
                self.conn.execute("SET TRANSACTION READ ONLY")
            result = self.conn.execute(call, [orjson.dumps(args).decode()]).fetchone()[0]
        return httpx.Response(200, content=orjson.dumps(result))

    def _insert(self, table: str, request: httpx.Request) -> httpx.Response:
        params, prefer = request.url.params, _prefer(request)
        columns = [sql.Identifier(c.strip('"')) for c in params["columns"].split(",")]
        statement = sql.SQL(
            "INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_recordset(NULL::{t}, %s::json)"
        ).format(t=sql.Identifier(table), c=sql.SQL(", ").join(columns))
        if "on_conflict" in params:
            assert prefer.get("resolution") == "ignore-duplicates", "the fake serves ignore-duplicates only"
            keys = [sql.Identifier(k) for k in params["on_conflict"].split(",")]
            statement += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(sql.SQL(", ").join(keys))
        if prefer.get("return") == "representation":
            statement += sql.SQL(" RETURNING {}").format(_as_object(params["select"], table))
            rows = self.conn.execute(statement, [request.content.decode()]).fetchall()
            return httpx.Response(201, content=orjson.dumps([row[0] for row in rows]))
        self.conn.execute(statement, [request.content.decode()])
        return httpx.Response(201)

    def _update(self, table: str, request: httpx.Request) -> httpx.Response:
        params, prefer = request.url.params, _prefer(request)
        body = orjson.loads(request.content)
        where, values = _where(table, params)
        assert values, "the fake serves filtered updates only"
        assert prefer.get("return") == "representation", "the fake serves updates that read rows back"
        statement = sql.SQL("UPDATE {t} SET {sets} FROM json_populate_record(NULL::{t}, %s::json) AS _")
        statement = statement.format(t=sql.Identifier(table), sets=sql.SQL(", ").join(
            sql.SQL("{0} = _.{0}").format(sql.Identifier(column)) for column in body))
        statement += where + sql.SQL(" RETURNING {}").format(_as_object(params["select"], table))
        rows = self.conn.execute(statement, [request.content.decode(), *values]).fetchall()
        return httpx.Response(200, content=orjson.dumps([row[0] for row in rows]))

    def _select(self, table: str, params: httpx.QueryParams) -> httpx.Response:
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
        rows = self.conn.execute(query, values).fetchall()
        return httpx.Response(200, content=orjson.dumps([row[0] for row in rows]))


def _where(table: str, params: httpx.QueryParams) -> tuple[sql.Composable, list[str]]:
    """The WHERE clause of PostgREST's horizontal filters (`column=op.value`), and its values."""
    conditions, values = [], []
    for column, condition in params.multi_items():
        if column in ("select", "order", "limit", "offset", "columns", "on_conflict"):
            continue
        operator, _, operand = condition.partition(".")
        symbol = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<"}[operator]
        conditions.append(sql.SQL("{} {} %s").format(sql.Identifier(table, column), sql.SQL(symbol)))
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


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(
        {"code": code, "message": message, "details": None, "hint": None}))
