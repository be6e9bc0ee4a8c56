"""Error reports to Sentry when SENTRY_DSN is set; without it sentry-sdk is never even imported.

Only errors the app did not expect are sent (an answer of 500): a handled 4xx is the client's
mistake, and a 503 is an outage that metrics and alerts report. Every event carries the request id
(the X-Request-ID of the answer and of the log lines) and nothing secret: no API key, no
Authorization or apikey header, no cookie, no request body (profiles), no local variables.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from .logs import current_request_id

# Request headers that carry credentials: ours (Authorization), Supabase's (apikey) and the usual ones.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "apikey", "x-api-key", "cookie",
                            "set-cookie"})


def init_error_reports(app: Flask) -> None:
    """Start sentry-sdk with its Flask integration when SENTRY_DSN is set; do nothing otherwise."""
    config = app.config
    if not config["SENTRY_DSN"]:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=config["SENTRY_DSN"], environment=config["SENTRY_ENVIRONMENT"],
        release=config["SENTRY_RELEASE"] or None, traces_sample_rate=config["SENTRY_TRACES_SAMPLE_RATE"],
        # send_default_pii stays unset, which is off (sentry-sdk 2.x deprecates naming it at all).
        include_local_variables=False, max_request_body_size="never",
        # Log lines become breadcrumbs, never events of their own: an unhandled error is one event,
        # sent by report_unexpected, not a second one for its log line.
        integrations=[FlaskIntegration(), LoggingIntegration(event_level=None)],
        before_send=scrub_event, before_send_transaction=scrub_event,
        transport=config.get("SENTRY_TRANSPORT"))  # tests pass an in-memory one
    app.extensions["error_reports"] = sentry_sdk


def report_unexpected(exc: BaseException) -> None:
    """Send an error the app did not expect to Sentry, when it is on."""
    sentry_sdk = current_app.extensions.get("error_reports")
    if sentry_sdk is not None:
        sentry_sdk.capture_exception(exc)


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Tag the event with the request id; drop credentials, cookies and bodies from its request."""
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    request = event.get("request")
    if isinstance(request, dict):
        for field in ("cookies", "data"):
            request.pop(field, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {name: value for name, value in headers.items()
                                  if name.lower() not in SECRET_HEADERS}
    return event
