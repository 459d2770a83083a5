"""Health, readiness, server time, the home page and the trading page."""

import datetime as dt
import hmac
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import metrics, stream
from apps.core.errors import error_body, page_not_found
from apps.core.fields import format_time
from apps.markets.exceptions import UnknownMarket
from apps.markets.selectors import market_by_symbol
from apps.site import selectors

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class PublicView(APIView):
    """No authentication, no throttling: probes and public data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []


class HealthView(PublicView):
    @extend_schema(
        summary="Liveness: the process answers",
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
        tags=["health"],
    )
    def get(self, request):
        return Response({"status": "ok"})


class ReadinessView(PublicView):
    @extend_schema(
        summary="Readiness: PostgreSQL and Redis reachable",
        description="503 `not_ready` (the Error envelope, `details.failing` naming the dependency) when "
        "PostgreSQL or Redis cannot be reached. Also reports when a Celery worker last ran the beat heartbeat.",
        responses={
            200: inline_serializer(
                "Ready",
                {
                    "status": serializers.CharField(),
                    "checks": serializers.DictField(),
                    "failing": serializers.ListField(),
                    "celery": serializers.DictField(),
                    "chain": serializers.DictField(
                        help_text="Each currency's chain-node circuit breaker: closed, half-open, open."
                    ),
                },
            ),
        },
        tags=["health"],
    )
    def get(self, request):
        ready, report = selectors.readiness()
        for name, result in report["checks"].items():
            metrics.DEPENDENCY_UP.labels(name).set(1 if result["ok"] else 0)
            metrics.DEPENDENCY_LATENCY.labels(name).set(result["latency_ms"] / 1000)
        if report["celery"]["age_seconds"] is not None:
            metrics.CELERY_HEARTBEAT_AGE.set(report["celery"]["age_seconds"])
        if ready:
            return Response({"status": "ok", **report})
        failing = ", ".join(report["failing"])
        return Response(error_body("not_ready", f"Not ready: {failing} unreachable.", report), status=503)


class ServerTimeView(APIView):
    """Public API (not a probe): counted against the caller's `public` budget."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "public"

    @extend_schema(
        summary="Server time",
        description="For API-key clients: signed requests must carry a timestamp within 5 seconds of this clock.",
        responses=inline_serializer(
            "ServerTime", {"time": serializers.CharField(), "epoch_ms": serializers.IntegerField()}
        ),
        tags=["meta"],
    )
    def get(self, request):
        epoch_ms = time.time_ns() // 1_000_000
        now = EPOCH + dt.timedelta(milliseconds=epoch_ms)  # exact: no float rounding of the ms
        return Response({"time": format_time(now), "epoch_ms": epoch_ms})


def prometheus_metrics(request):
    """Prometheus exposition (django-prometheus), behind a bearer token when METRICS_TOKEN is set.
    Without a token it is open in development only: it shows per-currency user totals and wallet
    balances (`check --deploy` reports the missing token, core.E001)."""
    token = settings.METRICS_TOKEN
    if not token and settings.METRICS_REQUIRE_TOKEN:
        return JsonResponse(
            error_body("permission_denied", "Metrics are closed: METRICS_TOKEN is not set on this server."), status=403
        )
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            response = JsonResponse(error_body("not_authenticated", "A metrics token is required."), status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return ExportToDjangoView(request)


def home(request):
    return render(request, "home.html", {"flower_url": settings.FLOWER_URL})


# The trading page keeps JWTs in the browser: no script but our own static files may run, it talks only
# to its own origin (REST) and the stream's, and no other site may frame it.
TRADE_PAGE_CSP = "; ".join([
    "default-src 'self'", "script-src 'self'", "connect-src 'self'{stream}", "img-src 'self' data:",
    "style-src 'self' 'unsafe-inline'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'",
])  # fmt: skip


def trade(request, symbol: str | None = None):
    """The trading page: a browser client of the public REST API and WebSocket stream only."""
    if symbol is not None:
        try:
            symbol = market_by_symbol(symbol).symbol
        except UnknownMarket:
            return page_not_found(request)
    url = stream.stream_url(request)
    response = render(request, "trade.html", {"symbol": symbol or "", "stream_url": url})
    own = stream.is_own_origin(request, url)
    response["Content-Security-Policy"] = TRADE_PAGE_CSP.format(stream="" if own else f" {stream.stream_origin(url)}")
    return response


@csrf_exempt  # nothing changes; a WebSocket handshake never carries a CSRF token
def stream_redirect(request):
    """`/ws/v1/` on the web pool: the stream is served by the stream process, and a client that came
    here is sent there (307 keeps the method; Python's `websockets` follows it). On the stream
    process itself a WebSocket handshake never reaches Django; a plain HTTP request does, and is told
    to upgrade."""
    url = stream.stream_url(request)
    if stream.is_own_origin(request, url):
        return JsonResponse(
            error_body("upgrade_required", "This is the WebSocket endpoint: open it with a WebSocket handshake."),
            status=426,
        )
    response = HttpResponse(status=307)  # HttpResponseRedirect refuses ws:// and wss://
    response["Location"] = url
    return response


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI. It renders only an HTML template, so DRF's OPTIONS answer (metadata as data) cannot
    be rendered: OPTIONS gets Django's plain answer, the `Allow` header and no body."""

    def options(self, request, *args, **kwargs):
        return View.options(self, request, *args, **kwargs)


@csrf_exempt  # it changes nothing; the API (JWT or API key) never uses CSRF: 404 whatever the method
def api_not_found(request):
    return page_not_found(request)
