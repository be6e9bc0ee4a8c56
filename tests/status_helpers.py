"""A day of operations for the status page's tests, made through the API: two sources' ingests with
rejects, two targets, today's run and two statuses; and what the status report must say about it.

The client is Flask's test client; a served app (Gunicorn) reads the same database afterwards.
"""

from __future__ import annotations

from typing import Any

import orjson

from .conftest import ALL_KEY, INGEST_KEY

AUTH = {"Authorization": f"Bearer {ALL_KEY}"}
INGEST_AUTH = {"Authorization": f"Bearer {INGEST_KEY}"}


def _ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response


def arrange_day(client, day: str) -> None:
    """Ingest 12 profiles (9 valid), create targets alpha (4) and beta (3), run `day`, mark two sent."""
    instagram = {"source": "instagram", "profiles": [{"id": f"ig{i}", "username": f"ig_user{i}"} for i in range(6)]
                 + [{"id": "ig-bad"}]}  # no username
    _ok(client.post("/api/ingest", json=instagram, headers=INGEST_AUTH))
    lines = [orjson.dumps({"id": f"tk{i}", "username": f"tk_user{i}", "source": "tiktok"}) for i in range(3)]
    lines += [orjson.dumps({"id": "tk-bad", "source": "tiktok"}), b"{not json"]
    _ok(client.post("/api/ingest", data=b"\n".join(lines) + b"\n",
                    headers={**INGEST_AUTH, "Content-Type": "application/x-ndjson"}))
    _ok(client.post("/api/targets", json={"name": "alpha", "daily_quota": 4}, headers=AUTH), 201)
    _ok(client.post("/api/targets", json={"name": "beta", "daily_quota": 3}, headers=AUTH), 201)
    _ok(client.post("/api/distribution/run", json={"date": day}, headers=AUTH))
    page = _ok(client.get(f"/api/distribution/{day}?target=1", headers=AUTH)).get_json()
    updates = [{"profile_id": item["profile_id"], "status": "sent"} for item in page["items"][:2]]
    _ok(client.post("/api/distribution/status", json={"updates": updates}, headers=AUTH))


def expected_report(day: str) -> dict[str, Any]:
    """The parts of GET /api/status that arrange_day determines (timestamps and ids aside)."""
    return {
        "pool": {"total": 9, "unused": 2, "used": 7, "daily_quota": 7, "days_left": 0.3, "warning_days": 7,
                 "low": True},
        "distribution": {"date": day, "assigned": 7, "shortfall": 0, "by_status": {"assigned": 5, "sent": 2},
                         "targets": [{"target": 1, "name": "alpha", "quota": 4, "assigned": 4, "shortfall": 0,
                                      "by_status": {"assigned": 2, "sent": 2}},
                                     {"target": 2, "name": "beta", "quota": 3, "assigned": 3, "shortfall": 0,
                                      "by_status": {"assigned": 3}}]},
        "today": {"date": day, "requests": 2, "received": 12, "inserted_raw": 9, "added_to_global": 9,
                  "rejected": 3},
        "per_source": [{"source": "instagram", "received": 7, "inserted_raw": 6, "rejected": 1},
                       {"source": "tiktok", "received": 4, "inserted_raw": 3, "rejected": 1},
                       {"source": None, "received": 1, "inserted_raw": 0, "rejected": 1}],
        "recent": [{"sources": [None, "tiktok"], "received": 5, "inserted_raw": 3, "added_to_global": 3,
                    "rejected": 2},
                   {"sources": ["instagram"], "received": 7, "inserted_raw": 6, "added_to_global": 6,
                    "rejected": 1}],
    }


def add_history(conn, day: str, days: int = 29) -> None:
    """Ingest records for the `days` days before `day`: instagram steady, tiktok rejecting more each day."""
    conn.execute("""
        INSERT INTO ingest_requests (id, api_key_id, body_sha256, received, inserted_raw, added_to_global,
                                     rejected, response, by_source, created_at)
        SELECT gen_random_uuid(), 'history', 'sha', 3000 + 40 * n, 3000 + 40 * n - 10 * n, 2000 + 30 * n, 10 * n,
               jsonb_build_object('errors', '[]'::jsonb),
               jsonb_build_object('instagram', jsonb_build_object('received', 2000, 'inserted_raw', 2000, 'rejected', 0),
                                  'tiktok', jsonb_build_object('received', 1000 + 40 * n,
                                                               'inserted_raw', 1000 + 30 * n, 'rejected', 10 * n)),
               ((%(day)s::date - n) + time '09:30') AT TIME ZONE 'UTC'
        FROM generate_series(1, %(days)s) AS n""", {"day": day, "days": days})
