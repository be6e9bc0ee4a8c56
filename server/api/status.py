"""The status page: GET /status (the page, no data), GET /api/status (the report as JSON) and
GET /api/status/panel (the same report as the page's HTML, charts included); both need `admin`.

The page asks for a key once, keeps it in sessionStorage and sends it as `Authorization: Bearer`:
no cookie is ever set, so no other site can make a browser send it (no CSRF surface), and the page
itself holds nothing an anonymous visitor could read.
"""

from __future__ import annotations

import secrets
from datetime import date

from flask import Blueprint, jsonify, render_template, request

from .. import tasks
from ..auth import current_api_key, require_scope
from ..charts import bar_chart
from ..ratelimit import limit_group
from ..status_report import build_report
from .params import parse_date, query_int

bp = Blueprint("status", __name__)

DEFAULT_DAYS = 30
MAX_DAYS = 366
# The page's own script and styles only (by nonce); it reads the API of this origin and nothing else.
PAGE_POLICY = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self';"
               " img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
NO_STORE = {"Cache-Control": "no-store"}


def _report() -> dict:
    raw_date = request.args.get("date")
    day = parse_date(raw_date, "date") if raw_date is not None else tasks.today()
    # The history cannot reach before year 1: PostgreSQL would answer BC dates.
    days = min(query_int("days", DEFAULT_DAYS, 1, MAX_DAYS), (day - date.min).days + 1)
    return build_report(day, days)


@bp.get("/status")
@limit_group("public")
def page():
    """The page: a key form and a script that loads the panel with the key; no data of its own."""
    nonce = secrets.token_urlsafe(16)
    html = render_template("status.html", nonce=nonce)
    return html, 200, {"Content-Security-Policy": PAGE_POLICY.format(nonce=nonce),
                           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


@bp.get("/api/status")
@limit_group("admin")
@require_scope("admin")
def report():
    """?date=YYYY-MM-DD (default today) and ?days=N of ingest history (default 30)."""
    return jsonify(_report()), 200, NO_STORE


@bp.get("/api/status/panel")
@limit_group("admin")
@require_scope("admin")
def panel():
    """The report as the status page's HTML fragment, its charts drawn as SVG."""
    data = _report()
    per_day, per_source = data["ingest"]["per_day"], data["ingest"]["per_source"]
    charts = {
        "per_day": bar_chart("Profiles per day", [row["date"][5:] for row in per_day], [
            ("received", "received", [row["received"] for row in per_day]),
            ("added to the pool", "added", [row["added_to_global"] for row in per_day]),
            ("rejected", "rejected", [row["rejected"] for row in per_day])],
            label_every=max(len(per_day) // 10, 1)),
        "per_source": bar_chart("Profiles per source", [row["source"] or "(none)" for row in per_source], [
            ("received", "received", [row["received"] for row in per_source]),
            ("valid", "added", [row["inserted_raw"] for row in per_source]),
            ("rejected", "rejected", [row["rejected"] for row in per_source])]),
    }
    # Links to the lists only for a key that may read them (admin alone does not include reader).
    html = render_template("status_panel.html", report=data, charts=charts,
                           can_read="reader" in current_api_key().scopes)
    return html, 200, {"Content-Type": "text/html; charset=utf-8", **NO_STORE}
