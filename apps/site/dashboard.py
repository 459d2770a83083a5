"""The admin index's dashboard: what needs attention, per role, each figure a link to the admin list
that explains it. Read through the owning apps' selectors; every query is indexed and bounded (no
count over orders, trades or ledger entries), so the page stays fast with millions of rows."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from apps.kyc import selectors as kyc_selectors
from apps.markets import selectors as market_selectors
from apps.matching import selectors as matching_selectors
from apps.site import charts
from apps.wallets import selectors as wallet_selectors

# Which panel a user sees: the permission that opens its first list (superusers have them all).
PANEL_PERMISSIONS = {
    "compliance": "kyc.view_submission",
    "treasury": "wallets.view_withdrawal",
    "trading": "markets.view_market",
}


def link(name: str, *args, **query) -> str:
    url = reverse(f"admin:{name}", args=args)
    return f"{url}?{urlencode(query)}" if query else url


def build(request) -> dict:
    user, now = request.user, timezone.now()
    panels = {}
    if user.has_perm(PANEL_PERMISSIONS["compliance"]):
        panels["compliance"] = compliance(user, now)
    if user.has_perm(PANEL_PERMISSIONS["treasury"]):
        panels["treasury"] = treasury(now)
    if user.has_perm(PANEL_PERMISSIONS["trading"]):
        panels["trading"] = trading(user, now)
    return panels


def _iso(at) -> str:
    return at.isoformat()


def compliance(user, now) -> dict:
    queue = kyc_selectors.queue_summary(user, now)
    target_hours = queue["review_target"].total_seconds() / 3600
    open_statuses = "pending,in_review"
    buckets = []
    for bucket in queue["age_buckets"]:
        query = {"status__in": open_statuses, "created_at__lte": _iso(now - timedelta(hours=bucket["from_hours"]))}
        if bucket["to_hours"] is not None:
            query["created_at__gt"] = _iso(now - timedelta(hours=bucket["to_hours"]))
        buckets.append({
            "label": bucket["label"], "count": bucket["count"], "href": link("kyc_submission_changelist", **query),
            "alert": bucket["from_hours"] >= target_hours,
        })  # fmt: skip
    return {
        **queue,
        "queue_url": link("kyc_submission_changelist", status__in=open_statuses),
        "oldest_url": link("kyc_submission_change", queue["oldest_pending_id"]) if queue["oldest_pending_id"] else None,
        "mine_url": link("kyc_submission_changelist", assigned="mine", status__exact="in_review"),
        "decided_url": link("kyc_submission_changelist", decided_at__gte=_iso(queue["today"])),
        "age_chart": charts.bars(buckets, "Open KYC cases by waiting time"),
        "oldest_age_text": timesince(now - queue["oldest_pending_age"], now) if queue["oldest_pending_age"] else "",
        "target_text": f"{target_hours:g} h",
    }


def treasury(now) -> dict:
    day_ago = now - timedelta(days=1)
    history = wallet_selectors.hot_wallet_history(day_ago)
    breakers = wallet_selectors.chain_breakers()
    faults = wallet_selectors.simulated_chain_faults()
    hot = []
    for row in wallet_selectors.hot_wallet_bands():
        code = row["currency"]
        hot.append({
            **row,
            "url": link("wallets_account_changelist", kind__exact="hot", currency=code),
            # Drawn from the runs of the last day; none without a run (nothing to look at).
            "chart": charts.band([*history[code], (now, row["balance"])], row["hot_min"], row["hot_target"],
                                 row["hot_max"], f"{code} hot wallet over the last day", day_ago, now)
            if history.get(code) else None,
            "breaker": breakers.get(code, "unknown"),
            "faults": faults.get(code),
            "currency_url": link("wallets_currency_change", code),
        })  # fmt: skip
    reconciliation = wallet_selectors.last_reconciliation()
    if reconciliation is not None:
        reconciliation["url"] = link("wallets_reconciliationrun_change", reconciliation["id"])
    review = wallet_selectors.withdrawals_in_review()
    return {
        "withdrawals_in_review": review["count"],
        "oldest_withdrawal": review["oldest"],
        "withdrawals_url": link("wallets_withdrawal_changelist", status__exact="review"),
        "refills": wallet_selectors.refills_awaiting_approval(),
        "refills_url": link("wallets_custodytransfer_changelist", direction__exact="refill", status__exact="requested"),
        "hot_wallets": hot,
        "reconciliation": reconciliation,
        "reconciliations_url": link("wallets_reconciliationrun_changelist"),
        "breakers_open": sorted(code for code, state in breakers.items() if state != "closed"),
    }


def trading(user, now) -> dict:
    statuses = market_selectors.market_statuses(now)
    states = matching_selectors.matcher_states([m["symbol"] for m in statuses["markets"]])
    can_orders, can_trades = user.has_perm("orders.view_order"), user.has_perm("trades.view_trade")
    markets = []
    for market in statuses["markets"]:
        state = states[market["symbol"]]
        markets.append({
            **market, **state,
            "url": link("markets_market_change", market["id"]),
            "orders_url": link("orders_order_changelist", market__id__exact=market["id"]) if can_orders else None,
            "trades_url": link("trades_trade_changelist", market__id__exact=market["id"]) if can_trades else None,
        })  # fmt: skip
    return {
        "markets": markets,
        "halted": [m for m in markets if m["halted"]],
        "halted_url": link("markets_market_changelist", status__exact="halted"),
        "kill_switch": statuses["kill_switch"],
        "kill_switch_url": link("markets_market_kill_switch") if user.has_perm("markets.use_kill_switch") else None,
    }
