"""Portfolio accounting: weighted average cost in the valuation currency, realized PnL, snapshots.

The method (docs/portfolio.md "Portfolio"), per user and currency, applied to the account's ledger entries in
the order the balance changed (one event per ledger transaction; holds and releases move nothing):

- **Acquisition** (quantity goes up) adds its value to the cost basis: a buy fill costs the quote
  paid (price x quantity, in the valuation currency), so the fee taken from the base received raises
  the average cost; quote received by a sell is valued at its net amount; a deposit (or any other
  credit) at the currency's price when its minute began.
- **Sale** (a fill that gives the currency away) removes quantity x average cost from the basis and
  realizes the proceeds minus that: for the base sold, the quote received after the fee; for the
  quote spent on a buy, the value of what was paid.
- **Withdrawal** (any other debit) removes quantity x average cost, realizing nothing: the average
  cost stays.
- Values in another currency than the valuation one go through the price path of `prices` at the
  moment of the event (the last trade before the fill). Without a path the position is `unpriced`:
  its average cost is unknown until it is closed.

Positions are brought up to date when read (and by the daily snapshot), from a per-account cursor,
in one transaction that locks the user's positions: running it twice or concurrently applies every
entry exactly once, and a crash at any line leaves the previous state.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core import money
from apps.core.exceptions import ServiceUnavailable
from apps.portfolio import prices, selectors
from apps.portfolio.models import Position, Snapshot
from apps.trades.models import Trade
from apps.wallets.models import Account, Currency

logger = logging.getLogger(__name__)

STORED = money.unit(18)  # NUMERIC(36, 18)
CHUNK = 5000  # ledger events read per query while catching up


class ValuationCurrencyMissing(ServiceUnavailable):
    code = "valuation_currency_missing"
    default_message = "The portfolio's valuation currency is not listed on this exchange."


@dataclass
class Event:
    account_id: int
    last_entry_id: int
    amount: Decimal  # net change of the account's total
    kind: str
    reference_type: str
    reference_id: str
    created_at: dt.datetime


def sync_positions(user) -> dict[int, Position]:
    """Apply every ledger entry of the user's accounts not applied yet; returns {account_id: position}."""
    valuation = selectors.valuation_currency()
    if not Currency.objects.filter(pk=valuation).exists():
        raise ValuationCurrencyMissing(details={"valuation_currency": valuation})
    with transaction.atomic():
        positions = _locked_positions(user)
        missing = set(Account.objects.filter(kind=Account.Kind.USER, user=user).values_list("pk", flat=True))
        missing -= positions.keys()
        if missing:
            accounts = Account.objects.filter(pk__in=missing).order_by("pk").values_list("pk", "currency_id")
            Position.objects.bulk_create(
                [Position(account_id=pk, user=user, currency_id=code, valuation_currency_id=valuation)
                 for pk, code in accounts],
                ignore_conflicts=True,  # a concurrent read created it first: same row
            )  # fmt: skip
            positions = _locked_positions(user)
        changed: set[int] = set()
        for position in positions.values():
            if position.valuation_currency_id != valuation:
                _reset(position, valuation)  # the setting changed: rebuild from the first entry
                changed.add(position.pk)
        ledger = _Accountant(user.pk, valuation)
        while True:
            events, cursors, more = _events(positions)
            ledger.prepare(events)
            for event in events:
                ledger.apply(positions[event.account_id], event)
            for account_id, last_id in cursors.items():
                positions[account_id].last_entry_id = last_id
                changed.add(account_id)
            if not more:
                break
            if not more <= cursors.keys():  # cannot happen: no transaction has CHUNK entries on one account
                raise RuntimeError(f"portfolio sync of user {user.pk} made no progress")
        if changed:
            now = timezone.now()
            for pk in changed:
                positions[pk].updated_at = now
            Position.objects.bulk_update(
                [positions[pk] for pk in sorted(changed)],
                [
                    "valuation_currency",
                    "quantity",
                    "cost",
                    "realized_pnl",
                    "unpriced",
                    "realized_incomplete",
                    "last_entry_id",
                    "updated_at",
                ],
            )
    return positions


def _locked_positions(user) -> dict[int, Position]:
    # Locked in id order: a concurrent read or snapshot of the same user waits, then finds them current.
    return {p.account_id: p for p in Position.objects.select_for_update().filter(user=user).order_by("pk")}


def _reset(position: Position, valuation: str) -> None:
    position.valuation_currency_id = valuation
    position.quantity = position.cost = position.realized_pnl = Decimal(0)
    position.unpriced = position.realized_incomplete = False
    position.last_entry_id = 0


def _events(positions: dict[int, Position]) -> tuple[list[Event], dict[int, int], set[int]]:
    """The next events of every position in ledger order (the net change per ledger transaction;
    holds and releases net to zero and only move the cursor), each account's new cursor, and
    the accounts that have more. Reads at most CHUNK entries per account."""
    ids = sorted(positions)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.account_id, max(e.id), count(*), sum(e.amount), t.kind, t.reference_type, t.reference_id, "
            "t.created_at "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS c(account_id, after) "
            "CROSS JOIN LATERAL (SELECT id, transaction_id, account_id, amount FROM wallets_entry "
            "WHERE account_id = c.account_id AND id > c.after ORDER BY id LIMIT %s) e "
            "JOIN wallets_transaction t ON t.id = e.transaction_id "
            "GROUP BY e.account_id, t.id ORDER BY e.account_id, max(e.id)",
            ["{" + ",".join(map(str, ids)) + "}", "{" + ",".join(str(positions[i].last_entry_id) for i in ids) + "}",
             CHUNK],
        )  # fmt: skip
        rows = cursor.fetchall()
    by_account: dict[int, list[tuple]] = {}
    for row in rows:
        by_account.setdefault(row[0], []).append(row)
    cursors: dict[int, int] = {}
    events: list[Event] = []
    more: set[int] = set()
    for account_id, groups in by_account.items():
        if sum(g[2] for g in groups) >= CHUNK:
            # The limit may have cut the last transaction's entries on this account: read it whole
            # next time (a transaction has a handful of entries per account, never CHUNK).
            groups = groups[:-1]
            more.add(account_id)
        for _account, last_id, _count, amount, kind, ref_type, ref_id, created_at in groups:
            cursors[account_id] = last_id
            if amount != 0:
                events.append(Event(account_id, last_id, amount, kind, ref_type, ref_id, created_at))
    return events, cursors, more


class _Accountant:
    """Applies events to positions (the method of the module docstring)."""

    def __init__(self, user_id: int, valuation: str):
        self.user_id = user_id
        self.valuation = valuation
        self._graph: prices.MarketGraph | None = None
        self.trades: dict[int, tuple] = {}

    @property
    def graph(self) -> prices.MarketGraph:
        if self._graph is None:  # read once, and only when there is something to value
            self._graph = prices.MarketGraph(self.valuation)
        return self._graph

    def prepare(self, events: list[Event]) -> None:
        # The trades of this chunk only: memory stays bounded however long the backlog.
        ids = {int(e.reference_id) for e in events if e.reference_type == "trade" and e.kind == "trade"}
        rows = (
            Trade.objects.filter(pk__in=ids).values_list(
                "id", "market_id", "quantity", "quote_quantity", "buyer_id", "seller_fee"
            )
            if ids
            else ()
        )
        self.trades = {row[0]: row[1:] for row in rows}

    def apply(self, position: Position, event: Event) -> None:
        with localcontext() as ctx:
            ctx.prec = 60
            amount = event.amount
            if event.kind == "trade" and event.reference_type == "trade":
                value = self._trade_value(position, event)
                if amount > 0:
                    _acquire(position, amount, value)
                else:
                    _dispose(position, -amount, value, realize=True)
            elif amount > 0:
                price = self.graph.price(position.currency_id,
                                         lambda m: prices.price_before_minute(m, event.created_at))  # fmt: skip
                _acquire(position, amount, None if price is None else amount * price)
            else:
                _dispose(position, -amount, None, realize=False)

    def _trade_value(self, position: Position, event: Event) -> Decimal | None:
        """What the fill gave or got for this currency, in the valuation currency: the quote amount
        that changed hands (net of the seller's fee on a sell) at the quote's price at the fill."""
        if position.currency_id == self.valuation:
            return abs(event.amount)  # the valuation currency is its own unit
        trade_id = int(event.reference_id)
        market_id, quantity, notional, buyer_id, seller_fee = self.trades[trade_id]
        _symbol, base, quote = self.graph.markets[market_id]
        quote_price = self._quote_price(base, quote, trade_id, quantity, notional)
        if quote_price is None:
            return None
        if position.currency_id == base:
            paid = notional if buyer_id == self.user_id else notional - seller_fee
            return paid * quote_price
        return abs(event.amount) * quote_price  # the quote itself: what was paid or received

    def _quote_price(self, base: str, quote: str, trade_id: int, quantity: Decimal, notional: Decimal):
        """The quote's price in the valuation currency at the fill. When the base is the valuation
        currency (USDT-TRY), or only the base has a price path, the fill's own price converts it."""
        if quote == self.valuation:
            return Decimal(1)
        if base == self.valuation:
            return quantity / notional
        before = lambda m: prices.price_before_trade(m, trade_id)  # noqa: E731
        price = self.graph.price(quote, before)
        if price is None:
            base_price = self.graph.price(base, before)
            price = None if base_price is None else base_price * quantity / notional
        return price


def _acquire(position: Position, quantity: Decimal, value: Decimal | None) -> None:
    if position.quantity == 0:
        position.cost, position.unpriced = Decimal(0), False  # a fresh position
    position.quantity += quantity
    if value is None:
        position.unpriced = True
    else:
        position.cost = (position.cost + value).quantize(STORED, ROUND_HALF_EVEN)


def _dispose(position: Position, quantity: Decimal, proceeds: Decimal | None, *, realize: bool) -> None:
    """Remove `quantity` at the average cost; a sale realizes its proceeds minus that cost."""
    if quantity >= position.quantity:
        removed = position.cost
    else:
        removed = (position.cost * quantity / position.quantity).quantize(STORED, ROUND_HALF_EVEN)
    position.cost -= removed
    position.quantity = max(position.quantity - quantity, Decimal(0))
    if realize:
        if proceeds is None or position.unpriced:
            # The gain of this sale cannot be known (no price for what it brought, or an unknown
            # cost): it stays out of realized PnL, and the position says so. What remains keeps
            # its average cost.
            position.realized_incomplete = True
        else:
            position.realized_pnl = (position.realized_pnl + proceeds - removed).quantize(STORED, ROUND_HALF_EVEN)
    if position.quantity == 0:
        position.cost, position.unpriced = Decimal(0), False


# --- Snapshots -----------------------------------------------------------------------------------


def portfolio_for(user) -> selectors.PortfolioView:
    """Bring the user's positions up to date (they follow the ledger: this writes), then value them
    at the last trade prices (selectors.value_portfolio, which only reads)."""
    return selectors.value_portfolio(user, sync_positions(user))


def take_snapshot(user, *, today: dt.date | None = None) -> tuple[Snapshot, bool]:
    """The user's portfolio value for today (UTC), once: a second call the same day returns the
    first snapshot untouched (created False)."""
    today = today or timezone.now().date()
    existing = Snapshot.objects.filter(user=user, date=today).first()
    if existing is not None:
        return existing, False
    view = portfolio_for(user)
    snapshot = Snapshot(
        user=user, date=today, valuation_currency_id=view.valuation_currency,
        total_value=view.total_value.quantize(STORED, ROUND_HALF_EVEN), total_cost=view.total_cost,
        realized_pnl=view.realized_pnl, unrealized_pnl=view.unrealized_pnl.quantize(STORED, ROUND_HALF_EVEN),
        assets={a.currency: {"total": str(a.total), "price": None if a.price is None else str(a.price),
                             "value": None if a.value is None else str(a.value)} for a in view.assets},
        taken_at=timezone.now(),
    )  # fmt: skip
    try:
        with transaction.atomic():
            snapshot.save(force_insert=True)
    except IntegrityError:  # a concurrent run of the same day won: its snapshot stands
        return Snapshot.objects.get(user=user, date=today), False
    return snapshot, True


def snapshot_all(*, today: dt.date | None = None) -> dict:
    """Today's snapshot for every user with an account. One user's failure is logged and does not
    stop the others; the next run (or a retry) completes what is missing."""
    today = today or timezone.now().date()
    users = (
        get_user_model()
        .objects.filter(pk__in=Account.objects.filter(kind=Account.Kind.USER).values("user_id"))
        .exclude(pk__in=Snapshot.objects.filter(date=today).values("user_id"))
        .order_by("pk")
    )
    created = failed = 0
    for user in users.iterator(chunk_size=500):
        try:
            _snapshot, new = take_snapshot(user, today=today)
            created += new
        except Exception:
            failed += 1
            logger.exception("portfolio snapshot failed", extra={"user": user.pk, "date": str(today)})
    return {"date": str(today), "created": created, "failed": failed}
