"""Where the web process's CPU goes for one order: POST /api/v1/orders, POST /orders/batch and
GET /healthz called in this process through the web process's WSGI application (exchange.wsgi, the
middleware stack gunicorn runs), with real JWTs, PostgreSQL and Redis, no matcher.

    .venv/bin/python tools/devstack.py exec --redis-db 2 -- .venv/bin/python bench/profile_entry.py [--profile]

Prints, per endpoint, wall and CPU (this thread's) milliseconds per request and per order, the
median of blocks; with --profile, cProfile's top functions by own time and by cumulative time; with --spin=N, N more
requests of each kind after the figures, for a sampling profiler to watch (py-spy record -r 997 -f raw).
Not a `bench_*` module: `make bench` does not run it.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import bench.run  # noqa: E402, F401 - the benchmarks' environment (settings, no pool in this process)

BLOCKS = 15
PER_BLOCK = 40
BATCH = 20


def _environ(method: str, path: str, token: str | None, body: bytes = b"") -> dict:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "HTTP_ACCEPT": "application/json", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }  # fmt: skip
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _call(application, environ: dict, expect: tuple[int, ...]) -> bytes:
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(int(line[:3]))

    result = application(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    if status[0] not in expect or b'"error"' in body:
        raise RuntimeError(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}: {status[0]} {body[:300]!r}")
    return body


def _order(rng: random.Random, i: int) -> dict:
    side = "buy" if i % 2 else "sell"
    ticks = 1_000_000 + rng.randint(-30, 30) + (10 if side == "sell" else -10)
    return {"symbol": "BTC-USDT", "side": side, "type": "limit", "price": f"{ticks / 100:.2f}",
            "quantity": f"{rng.randint(1, 50) / 10_000:.4f}"}  # fmt: skip


def _requests(kind: str, tokens: list[str], rng: random.Random, n: int) -> list[dict]:
    if kind == "healthz":
        return [_environ("GET", "/healthz", None) for _ in range(n)]
    if kind == "orders":
        return [_environ("POST", "/api/v1/orders", tokens[i % len(tokens)], json.dumps(_order(rng, i)).encode())
                for i in range(n)]  # fmt: skip
    bodies = [json.dumps({"orders": [_order(rng, j) for j in range(BATCH)]}).encode() for _ in range(n)]
    return [_environ("POST", "/api/v1/orders/batch", tokens[i % len(tokens)], body) for i, body in enumerate(bodies)]


def _measure(application, kind: str, tokens: list[str], profile: bool, spin: int, sections: bool) -> None:
    rng = random.Random(7)
    expect = (200,) if kind != "orders" else (201,)
    per = BATCH if kind == "batch" else 1
    blocks = BLOCKS if kind != "batch" else 6
    n = PER_BLOCK if kind != "batch" else 10
    for environ in _requests(kind, tokens, rng, 20):  # warm-up
        _call(application, environ, expect)
    walls, cpus = [], []
    for _ in range(blocks):
        work = _requests(kind, tokens, rng, n)
        wall, cpu = time.perf_counter(), time.thread_time()
        for environ in work:
            _call(application, environ, expect)
        walls.append((time.perf_counter() - wall) * 1000 / n / per)
        cpus.append((time.thread_time() - cpu) * 1000 / n / per)
    unit = "order" if kind != "healthz" else "request"
    print(f"{kind:8} wall {statistics.median(walls):6.3f} ms, CPU {statistics.median(cpus):6.3f} ms per {unit} (median "
          f"of {blocks} blocks of {n}); least CPU {min(cpus):6.3f} ms", flush=True)  # fmt: skip
    if spin:
        work = _requests(kind, tokens, rng, spin)
        for environ in work:
            _call(application, environ, expect)
    if sections:
        _instrument()
        work = _requests(kind, tokens, rng, 300 if kind != "batch" else 30)
        for environ in work:
            _call(application, environ, expect)
        print(f"--- {kind}: this thread's CPU inside each function (inclusive), per request")
        _report_sections(len(work))
    if profile:
        work = _requests(kind, tokens, rng, 200 if kind != "batch" else 20)
        profiler = cProfile.Profile()
        profiler.enable()
        for environ in work:
            _call(application, environ, expect)
        profiler.disable()
        for sort in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(45)
            print(f"--- {kind}, by {sort}, {len(work)} requests", flush=True)
            print("\n".join(out.getvalue().splitlines()[6:]), flush=True)


SECTIONS = (
    "django.core.handlers.wsgi:WSGIHandler.__call__",
    "rest_framework.views:APIView.dispatch",
    "rest_framework.views:APIView.initialize_request",
    "rest_framework.views:APIView.initial",
    "rest_framework.views:APIView.perform_authentication",
    "apps.accounts.authentication:JWTAuthentication.authenticate",
    "rest_framework_simplejwt.authentication:JWTAuthentication.get_validated_token",
    "apps.accounts.authentication:user_for_token",
    "apps.accounts.throttling:planned_for",
    "apps.accounts.markers:admit",
    "apps.accounts.markers:_run",
    "apps.core.redis:get_redis",
    "rest_framework.views:APIView.check_throttles",
    "rest_framework.views:APIView.check_permissions",
    "rest_framework.views:APIView.perform_content_negotiation",
    "apps.orders.api:OrderListView.post",
    "apps.orders.api:OrderBatchView.post",
    "rest_framework.request:Request._parse",
    "apps.orders.serializers:OrderInput.check_each",
    "apps.orders.services:place_orders",
    "apps.orders.services:_prepare",
    "apps.orders.services:_place",
    "apps.orders.services:_send_new",
    "apps.orders.serializers:order_payload",
    "rest_framework.views:APIView.finalize_response",
    "rest_framework.response:Response.rendered_content",
    "django.db.backends.base.base:BaseDatabaseWrapper.connect",
    "django.db.backends.base.base:BaseDatabaseWrapper.close",
    "django.db:close_old_connections",
    "django.dispatch.dispatcher:Signal.send",
    "django.core.handlers.wsgi:WSGIRequest.__init__",
    "django.core.handlers.base:BaseHandler.resolve_request",
    "django_prometheus.middleware:PrometheusBeforeMiddleware.process_request",
    "django_prometheus.middleware:PrometheusBeforeMiddleware.process_response",
    "django_prometheus.middleware:PrometheusAfterMiddleware.process_request",
    "django_prometheus.middleware:PrometheusAfterMiddleware.process_view",
    "django_prometheus.middleware:PrometheusAfterMiddleware.process_response",
    "django.contrib.sessions.middleware:SessionMiddleware.process_request",
    "django.contrib.sessions.middleware:SessionMiddleware.process_response",
    "django.contrib.messages.middleware:MessageMiddleware.process_request",
    "django.contrib.messages.middleware:MessageMiddleware.process_response",
    "django.middleware.csrf:CsrfViewMiddleware.process_request",
    "django.middleware.csrf:CsrfViewMiddleware.process_view",
    "django.middleware.csrf:CsrfViewMiddleware.process_response",
    "django.middleware.security:SecurityMiddleware.process_request",
    "django.middleware.security:SecurityMiddleware.process_response",
    "django.middleware.common:CommonMiddleware.process_request",
    "django.middleware.common:CommonMiddleware.process_response",
    "django.middleware.clickjacking:XFrameOptionsMiddleware.process_response",
    "django.contrib.auth.middleware:AuthenticationMiddleware.process_request",
    "apps.core.middleware:AccessLogMiddleware._log",
    "apps.accounts.identity:claims_in",
    "apps.accounts.identity:user_from",
    "apps.orders.api:order_payload",
    "apps.orders.services:_outcome",
    "apps.orders.services:validate_order",
    "apps.orders.checks:run",
    "rest_framework.renderers:JSONRenderer.render",
    "django.template.response:SimpleTemplateResponse.render",
    "apps.core.parsers:JSONParser.parse",
)
_spent: dict[str, list[float]] = {}


def _instrument() -> None:
    """Each SECTIONS function wrapped to add up this thread's CPU time inside it (inclusive)."""
    import functools
    import importlib

    for name in SECTIONS:
        module_name, _, qualname = name.partition(":")
        owner = importlib.import_module(module_name)
        *path, attr = qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        raw = original.__func__ if isinstance(original, (staticmethod, classmethod)) else original
        spent = _spent.setdefault(name, [0.0, 0])

        def wrapped(*args, _raw=raw, _spent=spent, **kwargs):
            started = time.thread_time()
            try:
                return _raw(*args, **kwargs)
            finally:
                _spent[0] += time.thread_time() - started
                _spent[1] += 1

        functools.update_wrapper(wrapped, raw)
        if isinstance(original, staticmethod):
            wrapped = staticmethod(wrapped)
        setattr(owner, attr, wrapped)


def _report_sections(requests: int) -> None:
    for name, (seconds, calls) in _spent.items():
        if calls:
            print(f"  {seconds * 1e6 / requests:8.1f} us/request  {calls / requests:5.2f} calls  {name}")
        _spent[name] = [0.0, 0]


def main(argv: list[str]) -> int:
    import django

    from bench.bench_orders import UNLIMITED

    os.environ["RATE_LIMITS_JSON"] = json.dumps(UNLIMITED)
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # An experiment: the middleware named in PROFILE_DROP_MIDDLEWARE (comma-separated, substrings) left out.
    for dropped in filter(None, os.environ.get("PROFILE_DROP_MIDDLEWARE", "").split(",")):
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if dropped not in m]

    from bench.bench_orders import _login
    from bench.common import btc_usdt_traders, in_throwaway_database

    call_command("migrate", verbosity=0)
    profile = "--profile" in argv
    sections = "--sections" in argv
    spin = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--spin=")), 0)
    kinds = [a for a in argv if not a.startswith("--")] or ["healthz", "orders", "batch"]

    def measure(settings_dict):
        from django.db import connection

        # As the web process: a psycopg pool (DATABASE_POOL, the default there), made now for the
        # throwaway database (bench/run.py's processes connect without one).
        connection.close()
        settings_dict["CONN_MAX_AGE"] = 0
        settings_dict["OPTIONS"]["pool"] = {"min_size": 2, "max_size": 4, "timeout": 5}
        from exchange.wsgi import application

        try:
            users = btc_usdt_traders("profile-entry", 16)
            tokens = _login(users)
            for kind in kinds:
                _measure(application, kind, tokens, profile, spin, sections)
        finally:
            connection.close()
            connection.close_pool()
            del settings_dict["OPTIONS"]["pool"]
        return []

    in_throwaway_database(measure)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
