"""Schemathesis hooks for tests/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS by the `st`
process that test starts): the check that a request valid by the OpenAPI schema is not refused as
malformed."""

from __future__ import annotations

import json

import schemathesis

# Rules the OpenAPI schema cannot state (they relate two fields, or a field to the clock or to a
# list kept elsewhere): a request the schema allows may still break them, and is refused with 400
# `invalid_request` naming the field. Each operation lists only such fields.
NOT_IN_SCHEMA: dict[str, set[str]] = {
    # A cursor is an opaque token from `next`: any other string is a tampered cursor.
    "*": {"cursor"},
    # `to` after `from`; both from 1970 on (a date-time's range has no keyword in OpenAPI 3.0).
    "GET /api/v1/trades": {"from", "to"},
    "GET /api/v1/orders": {"from", "to"},
    # price x quantity must fit the amounts' storage (MAX_AMOUNT): a product no schema keyword bounds.
    "POST /api/v1/orders": {"quantity"},
    "GET /api/v1/trades/export.csv": {"from", "to"},
    "GET /api/v1/portfolio/history": {"to"},
    # A withdraw key needs an allowlist of networks no wider than /24 (IPv4) or /48 (IPv6).
    "POST /api/v1/account/api-keys": {"ip_allowlist"},
    # 18 or older; no control or bidirectional characters in the name; documents checked by content.
    "POST /api/v1/kyc/submissions": {"date_of_birth", "full_name", "document_front", "document_back", "selfie"},
    # The currency's own decimals (GET /wallets), like an order's tick and lot.
    "POST /api/v1/withdrawals": {"amount"},
    "POST /api/v1/sandbox/faucet": {"amount"},
}

# What a well-formed request may still meet: a credential or a permission refused, a resource that
# does not exist, a conflict with the current state, a rate limit.
REFUSALS_OF_STATE = {401, 403, 404, 409, 429}


@schemathesis.check
def valid_requests_are_not_refused_as_malformed(ctx, response, case):
    """Schemathesis's `positive_data_acceptance`, precise about 400: a business rule of the current
    state (`insufficient_funds`, `invalid_price_tick`, `below_min_notional`, ...) has its own error
    code and is fine; `invalid_request` means the schema let through a request the server considers
    malformed, unless every field it names is one the schema cannot describe (NOT_IN_SCHEMA)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status >= 500 or status in REFUSALS_OF_STATE:
        return None
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        error = {}
    if status == 400 and error.get("code") not in (None, "invalid_request"):
        return None
    named = set(error.get("details") or {}) if isinstance(error.get("details"), dict) else set()
    allowed = NOT_IN_SCHEMA["*"] | NOT_IN_SCHEMA.get(f"{case.method} {case.operation.path}", set())
    if status == 400 and named and named <= allowed:
        return None
    raise AssertionError(f"A request valid by the schema was refused: {status} {response.content[:500]!r}")
