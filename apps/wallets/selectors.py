"""Wallet reads."""

from decimal import Decimal

from django.db.models import Count, Min, OuterRef, Subquery

from apps.wallets import breaker, chain_faults
from apps.wallets.models import (
    Account,
    Currency,
    CustodyTransfer,
    Deposit,
    ReconciliationRun,
    Withdrawal,
    WithdrawalAddress,
)


def balances_for(user) -> list[dict]:
    """Every active currency, with the user's available and locked amounts (zero without an account)."""
    held = {a.currency_id: a for a in Account.objects.filter(kind=Account.Kind.USER, user=user)}
    rows = []
    for currency in Currency.objects.filter(is_active=True).order_by("code"):
        account = held.get(currency.code)
        rows.append({
            "currency": currency.code,
            "available": account.available if account else 0,
            "locked": account.locked if account else 0,
            "decimals": currency.decimals,
        })  # fmt: skip
    return rows


def deposits_for(user):
    return Deposit.objects.filter(user=user).select_related("currency")


def withdrawal_addresses_for(user):
    return WithdrawalAddress.objects.filter(user=user).select_related("currency")


def hot_wallets() -> list[tuple[str, Decimal, Decimal]]:
    """(currency, hot account's available balance, hot_min) for every active currency, one query."""
    return list(
        Account.objects.filter(kind=Account.Kind.HOT, user__isnull=True, currency__is_active=True)
        .order_by("currency_id")
        .values_list("currency_id", "available", "currency__hot_min")
    )


def chain_breakers() -> dict[str, str]:
    """Each active currency's chain breaker state (reported, not failing readiness: the exchange
    trades while a node is down; withdrawals and deposits of that currency wait)."""
    try:
        codes = list(Currency.objects.filter(is_active=True).values_list("code", flat=True))
    except Exception:  # noqa: BLE001 - PostgreSQL down is reported by its own check
        return {}
    return {code: breaker.state(code) for code in codes}


def simulated_chain_faults() -> dict[str, str]:
    """The simulated chain's fault modes that are on, per active currency ({code: "refuses sends"})."""
    codes = list(Currency.objects.filter(is_active=True).values_list("code", flat=True))
    return {code: faults.describe() for code, faults in chain_faults.faults_of(codes).items() if faults.active}


def withdrawals_in_review() -> dict:
    """Withdrawals waiting for staff review: how many and since when (status is indexed)."""
    return Withdrawal.objects.filter(status=Withdrawal.Status.REVIEW).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )


def refills_awaiting_approval() -> list[dict]:
    """Refill requests waiting for a second person's approval (at most one per currency, a partial
    unique index): id, currency, amount, requested_by_id, created_at."""
    return list(
        CustodyTransfer.objects.filter(
            direction=CustodyTransfer.Direction.REFILL, status=CustodyTransfer.Status.REQUESTED
        )
        .order_by("currency_id")
        .values("id", "currency_id", "amount", "requested_by_id", "created_at")
    )


def hot_wallet_bands() -> list[dict]:
    """Each active currency's hot wallet (the ledger's hot account) against its band, one query:
    currency, balance, hot_min, hot_target, hot_max and where it stands ("below", "within", "above")."""
    rows = []
    for code, hot_min, hot_target, hot_max, balance in (
        Currency.objects.filter(is_active=True)
        .annotate(
            balance=Subquery(
                Account.objects.filter(kind=Account.Kind.HOT, user__isnull=True, currency=OuterRef("pk")).values(
                    "available"
                )[:1]
            )
        )
        .order_by("code")
        .values_list("code", "hot_min", "hot_target", "hot_max", "balance")
    ):
        balance = balance or Decimal(0)
        position = "below" if balance < hot_min else "above" if balance > hot_max else "within"
        rows.append({"currency": code, "balance": balance, "hot_min": hot_min, "hot_target": hot_target,
                     "hot_max": hot_max, "position": position})  # fmt: skip
    return rows


def last_reconciliation() -> dict | None:
    """The latest finished reconciliation run, per currency: matched, or the differences (owed minus
    held; the ledger's hot, cold and in transit minus the chain's) and the mismatches naming that
    currency. The ledger invariants' mismatches are the run's, not a currency's ("other")."""
    run = ReconciliationRun.objects.filter(finished_at__isnull=False).order_by("-started_at", "-id").first()
    if run is None:
        return None
    currencies = []
    for code, figures in sorted(run.figures.items()):
        value = {k: Decimal(v) for k, v in figures.items()}
        owed = value.get("users", 0) + value.get("fees", 0)
        held = (
            value.get("hot", 0) + value.get("cold", 0) + value.get("in_transit", 0) + value.get("sandbox_issuance", 0)
        )
        differences = {"solvency": owed - held}
        if "chain_hot" in value:  # absent when the node did not answer (a "chain" mismatch says so)
            differences["hot"] = value.get("hot", 0) - value["chain_hot"]
            differences["cold"] = value.get("cold", 0) - value.get("chain_cold", 0)
            # Runs stored before issue 26 have no chain_in_transit (nothing was in transit then).
            in_transit = value.get("in_transit", 0)
            differences["in transit"] = in_transit - value.get("chain_in_transit", in_transit)
        mismatches = [m for m in run.mismatches if m["subject"].split(" ")[0] == code]
        differences = {k: v for k, v in differences.items() if v}
        currencies.append({"currency": code, "matched": not mismatches and not differences,
                           "differences": differences, "mismatches": mismatches})  # fmt: skip
    codes = set(run.figures)
    other = [m for m in run.mismatches if m["subject"].split(" ")[0] not in codes]
    return {"id": run.pk, "started_at": run.started_at, "ok": run.ok, "currencies": currencies, "other": other}


HISTORY_RUNS = 400  # a day of runs at the default RECONCILIATION_SECONDS (300) is 288


def hot_wallet_history(since) -> dict[str, list[tuple]]:
    """The ledger's hot balance per currency as each finished reconciliation run since `since`
    recorded it ({currency: [(started_at, hot), ...]}, oldest first): one indexed, bounded query."""
    runs = (
        ReconciliationRun.objects.filter(started_at__gte=since, finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("started_at", "figures")[:HISTORY_RUNS]
    )
    history: dict[str, list[tuple]] = {}
    for started_at, figures in reversed(list(runs)):
        for code, values in figures.items():
            if "hot" in values:
                history.setdefault(code, []).append((started_at, Decimal(values["hot"])))
    return history


def listed_currencies():
    """Every currency, by code: GET /currencies."""
    return Currency.objects.order_by("code")
