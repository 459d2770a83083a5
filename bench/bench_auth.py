"""Authenticated requests through the web process: JWT bearer vs signed API key, and the parts.

Workload: GET /api/v1/account (one user lookup, one 2FA lookup, rate-limit count in Redis) 2,000
times from 16 connections, first with a JWT, then with an API key where every request carries a
fresh signature made by apps.accounts.signing (the client helper). In process: 100,000 HMAC
signatures and 20,000 decryptions of a stored secret (Fernet), the per-request costs a key adds.
"""

from __future__ import annotations

import json
import time
import uuid

from bench.bench_http import UNLIMITED
from bench.common import Figure, WebProcess, measure_get


def run() -> list[Figure]:
    from apps.accounts import services, signing
    from apps.accounts.models import User
    from apps.core import crypto

    name = f"bench-{uuid.uuid4().hex[:8]}"
    user = User.objects.create_user(name, f"{name}@bench.local", "bench-passphrase-unused-1", tier="institutional")
    try:
        access = services.login(username=name, password="bench-passphrase-unused-1", otp_code=None).access
        key = services.create_api_key(user=user, label="bench", permissions=["read"], ip_allowlist=[])
        last = [0]

        def signed_headers(path: str) -> dict[str, str]:
            # A distinct timestamp per request (identical signatures are refused as replays); ahead
            # of the clock only while requests come faster than one a millisecond.
            last[0] = max(signing.now_ms(), last[0] + 1)
            return signing.signed_headers(key.api_key.key, key.secret, "GET", path, b"", timestamp=last[0])

        figures: list[Figure] = []
        with WebProcess(RATE_LIMITS_JSON=json.dumps(UNLIMITED)) as web:
            figures += measure_get(
                web.port,
                "/api/v1/account",
                "GET /account with JWT",
                headers=lambda _: {"Authorization": f"Bearer {access}"},
            )
            figures += measure_get(web.port, "/api/v1/account", "GET /account with API key", headers=signed_headers)

        started = time.perf_counter()
        for i in range(100_000):
            signing.signature(key.secret, 1_700_000_000_000 + i, "GET", "/api/v1/account", b"")
        figures.append(Figure("HMAC-SHA256 signature", 100_000 / (time.perf_counter() - started), "ops/s"))
        stored = bytes(key.api_key.secret_encrypted)
        started = time.perf_counter()
        for _ in range(20_000):
            crypto.decrypt(stored)
        figures.append(Figure("secret decryption (Fernet)", 20_000 / (time.perf_counter() - started), "ops/s"))
        return figures
    finally:
        user.delete()
