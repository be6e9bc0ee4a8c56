"""Gunicorn settings: read by `gunicorn -c gunicorn.conf.py "server:create_app()"`.

Every value comes from server/config.py (environment, then .env), so a bad setting stops the
master before it forks, with a message naming the variable.
"""

import os
import shutil
import sys
from pathlib import Path

from server.config import load_settings

settings = load_settings()

# Workers import prometheus_client after the fork; it picks multiprocess mode from this variable
# at import, so it must be set here, in the master, before any worker exists.
metrics_dir = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(settings["DATA_DIR"]) / "prometheus")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())

bind = f"{settings['HOST']}:{settings['PORT']}"
# Ingest parses JSON (CPU) and the rest waits on PostgreSQL (I/O): a process per core for the
# CPU part, and threads inside each so requests waiting on the database do not hold a whole
# process. gthread needs no monkey-patching (psycopg and the pool stay plain threads), unlike gevent.
workers = settings["WEB_CONCURRENCY"] or max(2, os.cpu_count() or 1)
worker_class = "gthread"
threads = settings["GUNICORN_THREADS"]
# gthread heartbeats from its main loop while requests run in its threads, so `timeout` only
# catches a stuck worker, not a long request: a 500,000-profile ingest may take minutes.
# graceful_timeout lets such an ingest finish when a worker is recycled or the app is stopped.
timeout = settings["GUNICORN_TIMEOUT"]
graceful_timeout = settings["GUNICORN_GRACEFUL_TIMEOUT"]
keepalive = 5
# Recycle workers now and then so slow leaks in dependencies cannot grow without bound;
# jitter keeps them from restarting all at once.
max_requests = settings["GUNICORN_MAX_REQUESTS"]
max_requests_jitter = max_requests // 10
forwarded_allow_ips = settings["FORWARDED_ALLOW_IPS"]
# The run-time control socket lives at one path per user: two instances on a machine would fight
# over it, and nothing here uses it.
control_socket_disable = True
# A thread parsing an ingest holds the GIL; the others (its COPY writer, short list reads) get it
# only when the interpreter hands it over, every 5 ms by default. At 1 ms the COPY writer waits
# less each time its socket is ready (the streamed part of an ingest ran ~10% faster). Workers
# inherit it through the fork.
sys.setswitchinterval(0.001)
# The heartbeat file is touched on every loop; on tmpfs that never waits on a slow disk.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Gunicorn's own lines in the app's format; the app logs one access line per request itself
# (with request id, route and key id), so Gunicorn's access log stays off.
_formatter = ({"()": "server.logs.JsonFormatter"} if settings["LOG_FORMAT"] == "json"
              else {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"})
logconfig_dict = {
    "root": {"level": settings["LOG_LEVEL"].upper(), "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        "pgserver": {"level": "WARNING"},  # it logs every pg_ctl call at INFO
    },
    "formatters": {"generic": _formatter},
}


def on_starting(server):
    """In the master, before any fork: reset the metrics folder, start the embedded PostgreSQL once."""
    shutil.rmtree(metrics_dir, ignore_errors=True)  # samples of a previous run would be added in
    metrics_dir.mkdir(parents=True, exist_ok=True)
    if settings["STORAGE_BACKEND"] == "embedded":
        from server.storage import embedded
        from server.storage.migrate import apply_schema

        # The master owns the embedded server: it stops when the master exits.
        url = embedded.ensure_running(settings["DATA_DIR"], stop_at_exit=True)
        apply_schema(url)
        server.log.info("embedded PostgreSQL ready in %s", embedded.pgdata_path(settings["DATA_DIR"]))


def post_worker_init(worker):
    """Count the start: a worker starting over and over (a crash loop) shows in worker_starts_total."""
    from server.metrics import get_metrics

    get_metrics().worker_starts.inc()


# Each worker makes its own pool (or Supabase client) lazily on its first request, after the
# fork (server/storage StoreHolder), and closes it here when it exits.
def worker_exit(server, worker):
    """Close this worker's pool or HTTP client when it exits; count a recycling (max_requests)."""
    if worker.nr >= worker.max_requests:  # the restarts that are planned, for the crash-loop alert
        from server.metrics import get_metrics

        get_metrics().worker_recycles.inc()
    app = getattr(worker, "wsgi", None)
    holder = getattr(app, "extensions", {}).get("store") if app is not None else None
    if holder is not None:
        holder.close()


def child_exit(server, worker):
    """In the master, after a worker died (even by SIGKILL): drop its live gauges from /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
