"""Gunicorn settings: read by `gunicorn -c gunicorn.conf.py "server:create_app()"`."""

import multiprocessing
import os

from dotenv import load_dotenv

load_dotenv(override=False)  # the caller's environment wins over .env, as in the app

bind = f"0.0.0.0:{os.environ.get('PORT', '5001')}"
# Ingest parses JSON (CPU) and the rest waits on PostgreSQL (I/O): a process per core for the
# CPU part, and threads inside each so waiting requests do not hold a whole process.
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gthread heartbeats from its main loop, so a long request does not trip `timeout`; the
# graceful timeout lets a 500,000-profile ingest finish when a worker is asked to restart.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "600"))
keepalive = 5
# Recycle workers now and then so slow leaks in dependencies cannot grow without bound;
# jitter keeps them from restarting all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# Several masters may run on one machine (tests, side-by-side deploys); the control socket's
# fixed default path would be shared between them, and nothing here uses it.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """In the master, before any fork: start the embedded PostgreSQL once and apply the schema."""
    from server.config import load_settings
    from server.storage import embedded
    from server.storage.migrate import apply_schema

    settings = load_settings()
    if settings["STORAGE_BACKEND"] == "embedded":
        # The master owns the embedded server: it stops when the master exits.
        url = embedded.ensure_running(settings["DATA_DIR"], stop_at_exit=True)
        apply_schema(url)
        server.log.info("embedded PostgreSQL ready in %s", embedded.pgdata_path(settings["DATA_DIR"]))


def worker_exit(server, worker):
    """Close this worker's pool or HTTP client when it exits."""
    app = getattr(worker, "wsgi", None)
    holder = getattr(app, "extensions", {}).get("store") if app is not None else None
    if holder is not None:
        holder.close()
