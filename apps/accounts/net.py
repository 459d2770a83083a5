"""Client addresses: who a request comes from, for allowlists and per-address budgets."""

from __future__ import annotations

import ipaddress


def client_ip(request) -> str:
    # REMOTE_ADDR is the peer; behind a proxy uvicorn --proxy-headers sets it from X-Forwarded-For
    # for trusted proxies only (FORWARDED_ALLOW_IPS), so a client cannot choose its own address.
    return request.META.get("REMOTE_ADDR", "")


def address_key(request) -> str:
    """The address a per-address budget counts: an IPv6 client is its /64 (one subscriber holds a
    whole /64, and would otherwise have 2^64 budgets)."""
    address = client_ip(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def ip_allowed(address: str, allowlist: list[str]) -> bool:
    if not allowlist:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in allowlist)
