"""The rows that cross from the matcher's loop to settlement and the publisher, named.

Plain NamedTuples: as cheap to build and compare as the positional tuples they replace (a batch
makes thousands), read by field name where they are used. No model instances on this path.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple


class OrderRow(NamedTuple):
    """An order and its hold as the matcher reads them (recovery.order_rows): the source of a ticket
    and of an engine order, and of the fields the publisher renders once per order."""

    id: int
    user_id: int
    side: str
    type: str
    price: Decimal | None
    stop_price: Decimal | None
    quantity: Decimal | None
    quote_quantity: Decimal | None
    time_in_force: str
    post_only: bool
    self_trade_prevention: str
    status: str
    applied: bool
    triggered: bool
    priority: int | None
    cancel_requested_at: datetime | None
    filled_quantity: Decimal
    filled_quote: Decimal
    fee: Decimal
    created_at: datetime
    hold_id: int | None
    client_order_id: str | None
    hold_amount: Decimal | None
    hold_account_id: int | None


class TradeRow(NamedTuple):
    """One fill as settlement writes it (Batch.trades): COPY into trades_trade, candles, publisher."""

    buyer: Any  # settlement.Ticket
    seller: Any  # settlement.Ticket
    taker_side: str
    price: Decimal
    quantity: Decimal
    notional: Decimal
    buyer_fee: Decimal
    seller_fee: Decimal
    taker_is_buyer: bool


class PendingPosting(NamedTuple):
    """A ledger transaction of a batch before its trade has an id (Batch.postings). `ref` is the
    trade's index in the batch when `key` is "trade", else the order id."""

    kind: str
    key: str
    ref: int
    legs: list[tuple]  # (account id, currency, bucket, amount): apps.wallets.ledger.Posting.legs


class OrderChange(NamedTuple):
    """An order's new state, written by one UPDATE ... FROM unnest(...) (Batch.order_rows)."""

    id: int
    status: str
    reason: str
    filled_quantity: Decimal
    filled_quote: Decimal
    fee: Decimal
    priority: int | None
    triggered: bool


class HoldChange(NamedTuple):
    """What an order's hold still holds (Batch.hold_rows): the (hold id, amount, status) of
    apps.wallets.ledger.set_holds."""

    hold_id: int
    amount: Decimal
    status: str


class StatusChange(NamedTuple):
    """A halt or resume the gate decided in a batch (matching.gate), as settlement writes it (only the
    breaker's own: staff halts and resumes were written by the staff action that sent the command)
    and subscribers see it."""

    status: str  # "halted" or "trading"
    reason: str
    until: datetime | None  # when a breaker halt's cool-down ends
    at: datetime
    breaker: bool  # decided by the circuit breaker, not by staff


class OrderState(NamedTuple):
    """An order as of one batch, for the publisher (publish.Update.orders): the next batches change
    the ticket while the publisher renders this one."""

    ticket: Any  # settlement.Ticket
    filled_quantity: Decimal
    filled_quote: Decimal
    fee: Decimal
    status: str
    reason: str
