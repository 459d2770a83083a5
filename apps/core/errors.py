"""One place that turns every error into the docs/api.md format:

    {"error": {"code": "<snake_case>", "message": "<human text>", "details": {...}}}

`exception_handler` is DRF's EXCEPTION_HANDLER (validation, auth, permission, not found, throttling,
method not allowed, parse errors, domain errors and unexpected exceptions inside API views); the
`handler4xx/500` views cover everything Django answers outside DRF (unknown URLs, CSRF failures,
exceptions in plain views).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.template.response import TemplateResponse
from django_guid import get_guid
from psycopg_pool import PoolTimeout
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from apps.core.exceptions import DomainError, ServiceUnavailable

logger = logging.getLogger("apps.core.errors")

# DRF's own codes where docs/api.md names a different one.
CODE_OVERRIDES = {
    exceptions.ValidationError: "invalid_request",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "malformed_request",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def flatten_validation(detail: Any) -> dict[str, list[str]]:
    """Map each field (dotted for nested ones) to a list of messages."""
    out: dict[str, list[str]] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value):
                out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for index, sub in enumerate(value):
                    walk(sub, f"{prefix}.{index}" if prefix else str(index))
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk(detail, "")
    return out


def _message_for(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "The request is invalid; see details."
    detail = exc.detail
    if isinstance(detail, (list, dict)):
        return str(exc.default_detail)
    return str(detail)


def _code_for(exc: exceptions.APIException) -> str:
    for cls, code in CODE_OVERRIDES.items():
        if isinstance(exc, cls):
            return code
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    exc = _translate_django_exception(exc)
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)

    # DRF's handler maps Http404/PermissionDenied, sets Retry-After and WWW-Authenticate headers
    # and marks the transaction for rollback; we only reshape the body.
    response = drf_exception_handler(exc, context)
    if response is None:
        set_rollback()
        request = context.get("request")
        logger.exception(
            "unhandled exception in API view",
            extra={"path": getattr(request, "path", None), "method": getattr(request, "method", None)},
        )
        return Response(_internal_error_body(), status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    details: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        details = flatten_validation(exc.detail)
    elif isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        details = {"retry_after": int(exc.wait) + (0 if float(exc.wait).is_integer() else 1)}
    elif isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        details = {"allowed": sorted(getattr(view, "allowed_methods", []) or [])}
    response.data = error_body(_code_for(exc), _message_for(exc), details)
    return response


class _PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def _is_store_outage(exc: Exception) -> bool:
    """PostgreSQL or Redis unreachable (Redis answers every authenticated request's admission: the
    rate limit and the revocation markers), as opposed to a bug."""
    if isinstance(exc, (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)):
        return True
    return isinstance(exc, PoolTimeout)


def _translate_django_exception(exc: Exception) -> Exception:
    """Django and database errors DRF leaves alone, as the API error they mean."""
    if isinstance(exc, RequestDataTooBig):
        return _PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ParseError("The request could not be understood.")
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return exceptions.ValidationError(detail)
    if _is_store_outage(exc):
        logger.warning("store unavailable: %s", exc)
        return ServiceUnavailable()
    return exc


def _internal_error_body() -> dict[str, Any]:
    request_id = get_guid()
    return error_body(
        "internal_error",
        "An unexpected error occurred. Quote the request id when contacting support.",
        {"request_id": request_id},
    )


# --- Django-level handlers (outside DRF views) ---------------------------------------------------


def _wants_html(request: HttpRequest) -> bool:
    if request.path.startswith(("/api/", "/healthz", "/readyz")):
        return False
    accept = request.headers.get("Accept", "")
    return "text/html" in accept


def _render(request: HttpRequest, status_code: int, code: str, message: str, details=None):
    body = error_body(code, message, details)
    if _wants_html(request):
        return TemplateResponse(
            request, "error.html", {"status": status_code, "error": body["error"]}, status=status_code
        ).render()
    return JsonResponse(body, status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None):
    return _render(request, 400, "malformed_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    return _render(request, 403, "permission_denied", "You do not have permission to perform this action.")


def page_not_found(request: HttpRequest, exception: Exception | None = None):
    return _render(request, 404, "not_found", "Not found.", {"path": request.path})


def server_error(request: HttpRequest):
    # Django already logged the exception with its traceback (django.request logger).
    error = _internal_error_body()["error"]
    return _render(request, 500, error["code"], error["message"], error["details"])


def csrf_failure(request: HttpRequest, reason: str = ""):
    return _render(request, 403, "csrf_failed", "CSRF verification failed.", {"reason": reason})
