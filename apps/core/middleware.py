"""One structured access-log line per request (with the request id, django-guid's filter); paths
with a NUL byte refused before routing; django-prometheus's request metrics."""

import logging
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.utils.decorators import sync_and_async_middleware
from django_prometheus import middleware

from apps.core.errors import page_not_found

logger = logging.getLogger("exchange.access")


class AccessLogMiddleware:
    """Logs method, path, status and duration. Probe and metrics scrapes log at DEBUG to keep noise down."""

    sync_capable = True
    async_capable = True
    QUIET_PATHS = ("/healthz", "/readyz", "/metrics")

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._log(request, response, started)
        return response

    async def _acall(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        self._log(request, response, started)
        return response

    def _log(self, request, response, started: float) -> None:
        level = logging.DEBUG if request.path in self.QUIET_PATHS else logging.INFO
        logger.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": request.META.get("REMOTE_ADDR"),
            },
        )


@sync_and_async_middleware
def refuse_nul_in_path(get_response):
    """A path with a NUL byte (`/api/v1/wallets/BTC%00/deposit-address`) names nothing here: 404
    `not_found` before any view runs. Every path parameter ends up in a query, and PostgreSQL refuses
    NUL in text (a 500); one check here covers every route, present and future."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            if "\x00" in request.path:
                return page_not_found(request)
            return await get_response(request)

    else:

        def middleware(request):
            if "\x00" in request.path:
                return page_not_found(request)
            return get_response(request)

    return middleware


class PrometheusAfterMiddleware(middleware.PrometheusAfterMiddleware):
    """django-prometheus's, with each labelled child looked up once per process: `labels()` checks
    the names, formats the values and takes a lock, about ten times a request."""

    _children: dict = {}

    def label_metric(self, metric, request, response=None, **labels):
        if not labels:
            return metric
        key = (id(metric), *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child
