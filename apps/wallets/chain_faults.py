"""Fault modes of the simulated chain, to rehearse incidents (docs/wallets.md "Rehearsing chain
incidents").

Per currency, any combination of:
- refuse_sends: every new send is refused (ChainRejected): withdrawals end `failed` with their hold
  released, a sweep or refill ends `failed`;
- unreachable: every call fails (NodeUnreachable): the API answers 503 `service_unavailable`, the
  currency's circuit breaker opens after CHAIN_BREAKER_FAIL_MAX failures, tasks back off;
- drop_broadcasts: sends are accepted and never confirm (a transaction the network dropped): a
  sweep or refill stays in transit and reconciliation reports it stuck past its deadline;
- delay_seconds: every call answers that late (a slow node; at most 120 s).
Staff set them in the admin (Currencies, "Set simulated chain faults…"), operators with
`manage.py simchain_faults`, tests and staging environments with the SIMCHAIN_FAULTS setting; the
admin and the command write one row per currency, and each change is audited
(`wallets.simchain_faults_set`). A currency's faults are the row's and the setting's together.
Only for the simulated chain: a currency on a real node's adapter refuses them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import audit
from apps.wallets.exceptions import ChainFaultsRefused
from apps.wallets.models import Currency, SimChainFault, SimTransaction

MAX_DELAY_SECONDS = 120.0
REASON_MAX = SimChainFault._meta.get_field("reason").max_length
FIELDS = ("refuse_sends", "unreachable", "drop_broadcasts", "delay_seconds")  # Faults' fields, the row's columns


@dataclass(frozen=True)
class Faults:
    refuse_sends: bool = False
    unreachable: bool = False
    drop_broadcasts: bool = False
    delay_seconds: float = 0.0

    @property
    def active(self) -> bool:
        return self != Faults()

    def describe(self) -> str:
        """What staff read: "refuse sends, answers 5 s late", or "none"."""
        parts = [label for name, label in (("refuse_sends", "refuses sends"), ("unreachable", "unreachable"),
                                           ("drop_broadcasts", "drops broadcasts")) if getattr(self, name)]  # fmt: skip
        if self.delay_seconds:
            parts.append(f"answers {self.delay_seconds:g} s late")
        return ", ".join(parts) or "none"


def faults_for(code: str) -> Faults:
    """The currency's faults now: the admin's or the command's row, with SIMCHAIN_FAULTS on top."""
    return faults_of([code])[code]


def faults_of(codes) -> dict[str, Faults]:
    """`faults_for` of several currencies, in one query."""
    stored_rows = SimChainFault.objects.filter(currency__in=list(codes)).values("currency", *FIELDS)
    rows = {row.pop("currency"): row for row in stored_rows}
    return {code: _merged(rows.get(code, {}), settings.SIMCHAIN_FAULTS.get(code, {})) for code in codes}


def _merged(row: dict, configured: dict) -> Faults:
    return Faults(
        refuse_sends=bool(row.get("refuse_sends") or configured.get("refuse_sends")),
        unreachable=bool(row.get("unreachable") or configured.get("unreachable")),
        drop_broadcasts=bool(row.get("drop_broadcasts") or configured.get("drop_broadcasts")),
        delay_seconds=max(float(row.get("delay_seconds") or 0), float(configured.get("delay_seconds") or 0)),
    )


def stored(code: str) -> SimChainFault | None:
    """The row staff set (who, when, why), if any fault of it is on."""
    row = SimChainFault.objects.filter(currency=code).select_related("set_by").first()
    if row is None or not Faults(**{k: getattr(row, k) for k in FIELDS}).active:
        return None
    return row


def set_faults(*, currency: str, faults: Faults, actor, reason: str) -> Faults:
    """Set the currency's faults to exactly `faults` (all off clears them) and audit the change with
    what they were before; returns them. Refused (ChainFaultsRefused, nothing written) for an
    unknown currency, one not on the simulated chain, a delay outside 0-120 s or a missing reason."""
    from apps.wallets.chain import adapter_for
    from apps.wallets.simchain import SimulatedChain

    code = currency.upper()
    if not Currency.objects.filter(code=code).exists():
        raise ChainFaultsRefused(f"No currency {code}.")
    if not isinstance(adapter_for(code).adapter, SimulatedChain):
        raise ChainFaultsRefused(f"{code} is not on the simulated chain: fault modes exist only there.")
    delay = float(faults.delay_seconds)
    if not math.isfinite(delay) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise ChainFaultsRefused(f"The delay is between 0 and {MAX_DELAY_SECONDS:g} seconds.")
    reason = (reason or "").strip()
    if faults.active and not reason:
        raise ChainFaultsRefused("Say why (a drill, a test): the reason is kept in the audit log.")
    if len(reason) > REASON_MAX:
        raise ChainFaultsRefused(f"The reason is at most {REASON_MAX} characters.")
    with transaction.atomic():
        row, _ = SimChainFault.objects.select_for_update().get_or_create(currency=code)
        before = Faults(**{k: getattr(row, k) for k in FIELDS})
        for name, value in asdict(faults).items():
            setattr(row, name, value)
        row.reason, row.set_by, row.set_at = reason, actor if getattr(actor, "pk", None) else None, timezone.now()
        row.save()
        audit.record(actor=actor, action="wallets.simchain_faults_set", target=Currency(code=code), reason=reason,
                     before=asdict(before), after=asdict(faults))  # fmt: skip
    return faults


def rebroadcast(*, currency: str, actor) -> int:
    """Broadcast again every transaction of the currency the network dropped: they go into the next
    block (a real treasury would rebroadcast or bump the fee). Audited; returns how many."""
    code = currency.upper()
    with transaction.atomic():
        count = SimTransaction.objects.filter(currency=code, dropped=True, block__isnull=True).update(dropped=False)
        if count:
            audit.record(actor=actor, action="wallets.simchain_rebroadcast", target=Currency(code=code),
                         transactions=count)  # fmt: skip
    return count
