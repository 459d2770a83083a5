"""The faucet's configuration (settings.SANDBOX_FAUCET_RATE and SANDBOX_FAUCET_AMOUNTS), parsed.
No Django models here: the system checks (checks.py) use it before the database is reachable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings

_RATE = re.compile(r"\s*([0-9]+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*", re.IGNORECASE)
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Amounts:
    default: Decimal
    max: Decimal


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/hour' -> (10, 3600): credits allowed per window of that many seconds. ValueError otherwise."""
    match = _RATE.fullmatch(rate or "")
    if match is None:
        raise ValueError(f"{rate!r} is not a rate such as '10/hour' (per second, minute, hour or day)")
    return int(match[1]), _PERIOD_SECONDS[match[2][0].lower()]


def rate() -> tuple[int, int]:
    return parse_rate(settings.SANDBOX_FAUCET_RATE)


def amounts_for(code: str) -> Amounts:
    """A currency's row of the table, missing values taken from the `*` row. ValueError when the
    table cannot give a positive default no larger than a positive maximum."""
    table = settings.SANDBOX_FAUCET_AMOUNTS
    row = {**table.get("*", {}), **table.get(code.upper(), {})}
    try:
        default, maximum = Decimal(str(row["default"])), Decimal(str(row["max"]))
    except (KeyError, InvalidOperation) as exc:
        raise ValueError(f"SANDBOX_FAUCET_AMOUNTS needs decimal 'default' and 'max' for {code} (or '*')") from exc
    if not (default.is_finite() and maximum.is_finite() and 0 < default <= maximum):
        raise ValueError(f"SANDBOX_FAUCET_AMOUNTS for {code}: need 0 < default <= max")
    return Amounts(default=default, max=maximum)
