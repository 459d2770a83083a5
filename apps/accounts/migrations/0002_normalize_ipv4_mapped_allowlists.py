"""API-key allowlists written before IPv4-mapped entries were understood (issue #20).

Entries in IPv4-mapped form (`::ffff:10.0.0.0/120`) are now matched against IPv4 clients, so a stored
`::ffff:0:0/96` would start admitting every IPv4 address. Each live key's entries are rewritten in the
form validation now stores (`10.0.0.0/24`), and a withdraw key whose allowlist is wider than a
withdraw key may name (an IPv4 /24, an IPv6 /48, in any IPv4-embedding form) is revoked: it was
accepted by the old check only through the loophole, and its owner creates a new one. The rules are
written out here so that this migration means the same thing whatever the code says later."""

import ipaddress

from django.db import migrations
from django.utils import timezone

IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
IPV4_EMBEDDING = (
    (IPV4_MAPPED, 96),
    (ipaddress.IPv6Network("::/96"), 96),
    (ipaddress.IPv6Network("64:ff9b::/96"), 96),
    (ipaddress.IPv6Network("2002::/16"), 16),
)


def _normalized(entry: str):
    network = ipaddress.ip_network(entry, strict=False)
    if network.version == 6 and network.subnet_of(IPV4_MAPPED):
        return ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


def _too_wide_for_withdrawals(network) -> bool:
    if network.version == 4:
        return network.prefixlen < 24
    if network.prefixlen < 48:
        return True
    for embedding, offset in IPV4_EMBEDDING:
        if network.subnet_of(embedding) and network.prefixlen - offset < 24:
            return True
        if embedding.subnet_of(network):
            return True
    return False


def forwards(apps, schema_editor):
    ApiKey = apps.get_model("accounts", "ApiKey")
    AuditEvent = apps.get_model("core", "AuditEvent")
    now = timezone.now()
    for key in ApiKey.objects.filter(revoked_at__isnull=True).exclude(ip_allowlist=[]).iterator():
        networks = []
        for entry in key.ip_allowlist:
            try:
                networks.append(_normalized(entry))
            except ValueError:
                networks = None  # never stored by the API; leave such a row as it is
                break
        if networks is None:
            continue
        stored = list(key.ip_allowlist)
        key.ip_allowlist = [str(network) for network in networks]
        revoke = "withdraw" in key.permissions and any(_too_wide_for_withdrawals(n) for n in networks)
        if revoke:
            key.revoked_at = now
        if key.ip_allowlist == stored and not revoke:
            continue
        key.save(update_fields=["ip_allowlist", "revoked_at"])
        # The owner's key history explains the change (staff see it in the audit log).
        AuditEvent.objects.create(
            actor=None,
            action="accounts.api_key_revoked" if revoke else "accounts.api_key_allowlist_rewritten",
            target_type="accounts.apikey",
            target_id=str(key.pk),
            reason="allowlist wider than a withdraw key may name" if revoke else "IPv4-mapped entries in IPv4 form",
            data={"user": key.user_id, "stored": stored, "now": key.ip_allowlist},
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("core", "0002_idempotency_keys")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
