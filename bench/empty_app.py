"""The list reads' floor: one Flask view that returns a stored page, served by the same Gunicorn.

No key check, no cache, no hooks: what Gunicorn, Flask and the load client cost on this machine
for a request of the same size, so the cached reads can be read as a ratio to it.
"""

from __future__ import annotations

import os

from flask import Flask

app = Flask(__name__)
PAGE = bytes.fromhex(os.environ.get("BENCH_PAGE_HEX", ""))


@app.get("/readyz")
def ready():
    """Gunicorn is serving."""
    return "ok"


@app.get("/api/distribution/<day>")
def page(day: str):
    """The same bytes for every date, target and cursor."""
    return app.response_class(PAGE, mimetype="application/json")
