"""gunicorn settings of the web process (Procfile `web:`; the bind address is on its command line).

WEB_CONCURRENCY worker processes (default 2: a worker is a whole interpreter, so two use both cores
that one cannot, the GIL), each with WEB_THREADS threads (default 4) of gunicorn's gthread worker.
Measured with wrk on /healthz (docs/architecture.md "Processes"), gthread answered up to 1.5-2.5 times what sync
workers did: sync workers close every connection after one answer, so each request paid a new TCP
connection, while gthread keeps connections alive. The threads let a worker go on while another
request waits on PostgreSQL or Redis (an order's balance lock); more than a few only add GIL
contention (8 answered less than 4).
"""

import os

wsgi_app = "exchange.wsgi:application"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
threads = int(os.environ.get("WEB_THREADS") or 4)
# The application is loaded once in the master, then forked: workers start at once, share its
# memory, and a broken import stops the master instead of a crash loop of workers.
preload_app = True
# A request that runs this long is stuck: its worker is killed and replaced.
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
# SIGTERM: finish the requests in hand within this many seconds (uvicorn's --timeout-graceful-shutdown).
graceful_timeout = 10
# A client on a keep-alive connection (gthread workers) is let go after this many idle seconds.
keepalive = 5
# No control socket (gunicornc): its default path is one per user, which every gunicorn on the machine
# (tests, benchmarks, a second checkout) would fight over.
control_socket_disable = True
# Only the application logs requests (apps.core.middleware.AccessLogMiddleware); gunicorn's own
# messages go to the root logger Django configures (JSON by default), like uvicorn's
# (exchange/uvicorn-logging.json).
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
    },
}
# X-Forwarded-For and X-Forwarded-Proto: apps/core/wsgi.py believes them from FORWARDED_ALLOW_IPS, as
# uvicorn does (gunicorn's own --forwarded-allow-ips reads the same variable, for the scheme only).


def post_fork(server, worker):
    """Each worker's own PostgreSQL pool: psycopg's pool runs threads, which a fork does not copy, and
    its connections must not be shared between processes. Loading the application opens none, but a
    pool the master made anyway (a check at import) is forgotten here, not closed: its sockets are
    the master's."""
    from django.db import connections  # here: gunicorn reads this file before Django is set up

    for connection in connections.all(initialized_only=True):
        getattr(type(connection), "_connection_pools", {}).pop(connection.alias, None)
        connection.connection = None
