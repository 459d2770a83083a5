"""Money helpers, one place for the arithmetic every app repeats: the smallest unit of a precision,
whether an amount fits a precision, and exact conversion between decimal prices or quantities and
the integer ticks and lots the matching engine counts in (refusing a value off the grid instead of
truncating it)."""

from __future__ import annotations

from decimal import Context, Decimal

_UNITS = tuple(Decimal(1).scaleb(-d) for d in range(37))
# Wide enough for any NUMERIC(36, 18) amount; an absurd one quantizes to NaN (not trapped): it fits nothing.
_WIDE = Context(prec=80, traps=[])


class OffGrid(ValueError):
    """A value that is not a whole number of steps (ticks, lots, notional units)."""


def unit(decimals: int) -> Decimal:
    """The smallest amount with `decimals` places: 10^-decimals (Decimal("0.00000001") for 8)."""
    return _UNITS[decimals] if 0 <= decimals < len(_UNITS) else Decimal(1).scaleb(-decimals)


def fits(amount: Decimal, decimals: int) -> bool:
    """Whether `amount` has at most `decimals` places, trailing zeros aside ("1.50" fits 1)."""
    if amount.as_tuple().exponent >= -decimals:  # also every amount written with few places: no arithmetic
        return True
    return amount == amount.quantize(unit(decimals), context=_WIDE)


def to_steps(value: Decimal, step: Decimal) -> int:
    """`value` as a whole number of `step`s (a price in ticks, a quantity in lots), exactly: a value
    off the step's grid raises OffGrid."""
    steps, rest = divmod(value, step)
    if rest:
        raise OffGrid(f"{value} is not a multiple of {step}")
    return int(steps)


def whole_steps(value: Decimal, step: Decimal) -> int:
    """How many whole `step`s fit in `value`, rounded down on purpose (what a budget can buy)."""
    return int(value // step)
