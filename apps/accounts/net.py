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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A dual-stack server sees an IPv4 client as ::ffff:a.b.c.d: it is that IPv4 address, and an
# allowlist entry in that form is the IPv4 network it spells.
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

# IPv6 ranges whose addresses carry an IPv4 address, and the bit where it starts: a network there
# covers as many IPv4 addresses as its prefix leaves open after that bit.
IPV4_EMBEDDING = (
    (IPV4_MAPPED, 96),
    (ipaddress.IPv6Network("::/96"), 96),  # IPv4-compatible (deprecated, RFC 4291)
    (ipaddress.IPv6Network("64:ff9b::/96"), 96),  # NAT64 well-known prefix (RFC 6052)
    (ipaddress.IPv6Network("2002::/16"), 16),  # 6to4 (RFC 3056)
)


def allowlist_network(entry: str) -> Network:
    """An allowlist entry as a network (host bits cleared); an IPv4-mapped one as the IPv4 network
    it stands for. ValueError if it is neither an address nor a CIDR network."""
    network = ipaddress.ip_network(entry, strict=False)
    if network.version == 6 and network.subnet_of(IPV4_MAPPED):
        return ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


def ipv4_prefixlen(network: Network) -> int:
    """The narrowest IPv4 prefix length whose every address `network` admits, when written in any
    IPv4-embedding IPv6 form (32 when it admits no more than one IPv4 address: a plain IPv6 network)."""
    if network.version == 4:
        return network.prefixlen
    narrowest = 32
    for embedding, offset in IPV4_EMBEDDING:
        if network.subnet_of(embedding):
            narrowest = min(narrowest, max(0, network.prefixlen - offset))
        elif embedding.subnet_of(network):
            narrowest = 0  # the whole range: every IPv4 address
    return narrowest


def ip_allowed(address: str, allowlist: list[str]) -> bool:
    """Whether a client address is in the allowlist (empty: any address). An IPv4 client matches
    the same entries whether the server sees it as a.b.c.d or as ::ffff:a.b.c.d."""
    if not allowlist:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # A mapped client is its IPv4 address for IPv4 entries, and stays itself for IPv6 ones (`::/0`
    # covers it, as the width rule for withdraw keys counts).
    candidates = [ip, ip.ipv4_mapped] if ip.version == 6 and ip.ipv4_mapped is not None else [ip]
    return any(
        candidate in network
        for network in map(allowlist_network, allowlist)
        for candidate in candidates
        if candidate.version == network.version
    )
