"""The simulated chain's fault modes (issue 26, item 3), each tried through the API and the tasks:
a refused send fails the withdrawal and releases its hold; an unreachable node answers 503, opens
the breaker (and its metric) and closes it once back; a slow node does not stall settlement; a
dropped sweep is reported stuck. Set by staff in the admin, by the command and by settings; every
change audited and shown on the currency's admin page."""

import datetime as dt
import threading
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.matching.testing import drain, matcher
from apps.wallets import breaker, chain_faults, custody, ledger, tasks, withdrawals
from apps.wallets.chain_faults import Faults
from apps.wallets.exceptions import ChainFaultsRefused
from apps.wallets.models import Account, Currency, CustodyTransfer, SimChainFault, Withdrawal
from apps.wallets.reconciliation import reconcile
from apps.wallets.simchain import SimulatedChain
from apps.wallets.tests import test_withdrawals
from apps.wallets.tests.test_withdrawals import (
    address,
    balances,
    client_for,
    code_for,
    fund,
    post,
    trusted,
    verified_user,
)
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import UserFactory, admin_login, funded_trader, place

W = Withdrawal.Status
# test_withdrawals' fixtures: BTC with fees and limits, and a user who may withdraw 1 BTC to a trusted address.
btc, withdrawer = test_withdrawals.btc, test_withdrawals.withdrawer
DRILL = "incident drill"


def audit_rows(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def breaker_metric(client) -> str:
    metrics = client.get("/metrics").content.decode()
    return next(
        line for line in metrics.splitlines() if line.startswith('exchange_chain_breaker_state{currency="BTC"}')
    )


@pytest.mark.django_db
def test_a_node_refusing_sends_fails_the_withdrawal_and_releases_its_hold(withdrawer, btc):
    client = client_for(withdrawer)
    chain_faults.set_faults(currency="BTC", faults=Faults(refuse_sends=True), actor=None, reason=DRILL)
    created = post(client, withdrawer)
    assert created.status_code == 201 and created.json()["status"] == "approved"
    assert balances(withdrawer, btc) == (Decimal("0.8998"), Decimal("0.1002"))
    assert tasks.send_withdrawals.apply().result == {"sent": 0, "waiting": 0, "failed": 1, "halted": 0}
    (listed,) = client.get("/api/v1/withdrawals").json()["results"]
    assert (listed["id"], listed["status"]) == (created.json()["id"], "failed")
    assert balances(withdrawer, btc) == (Decimal(1), 0)  # the hold is released, nothing left the wallet
    assert "refuse sends" in Withdrawal.objects.get().failure_reason
    assert breaker.state("BTC") == "closed"  # a refusal is the node working
    assert verify_ledger() == [] and reconcile().ok


@pytest.mark.django_db
def test_an_unreachable_node_answers_503_opens_the_breaker_and_it_closes_once_the_node_is_back(
    withdrawer, btc, settings
):
    settings.CHAIN_BREAKER_FAIL_MAX, settings.CHAIN_BREAKER_RESET_SECONDS = 3, 1
    breaker.forget()  # the fixtures' deposit made this process's breaker with the default settings
    client = client_for(withdrawer)
    assert breaker_metric(client).endswith(" 0.0")
    to = address()
    chain_faults.set_faults(currency="BTC", faults=Faults(unreachable=True), actor=None, reason=DRILL)

    def request():
        body = {"currency": "BTC", "amount": "0.1", "address": to, "otp_code": code_for(withdrawer)}
        return client.post("/api/v1/withdrawals", body, format="json")

    for _ in range(4):  # three failures reach the node, the third opens the breaker, the fourth fails fast
        refused = request()
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "service_unavailable"
    assert Withdrawal.objects.count() == 0 and balances(withdrawer, btc) == (Decimal(1), 0)  # nothing written
    assert breaker_metric(client).endswith(" 2.0") and client.get("/readyz").json()["chain"] == {"BTC": "open"}
    address_response = client_for(UserFactory()).get("/api/v1/wallets/BTC/deposit-address")  # a new address
    assert address_response.status_code == 503
    # The tasks back off: they fail with an OSError, which their autoretry covers.
    assert isinstance(tasks.process_deposits.apply().result, OSError)
    # The node answers again: after the reset timeout one trial call closes the breaker.
    chain_faults.set_faults(currency="BTC", faults=Faults(), actor=None, reason="drill over")
    time.sleep(1.1)
    accepted = request()
    assert accepted.status_code == 201, accepted.json()
    assert breaker_metric(client).endswith(" 0.0") and client.get("/readyz").json()["chain"] == {"BTC": "closed"}


@pytest.mark.django_db
def test_a_dropped_sweep_is_reported_stuck_after_its_deadline(settings):
    settings.CHAIN_BLOCK_SECONDS, settings.CHAIN_STUCK_FACTOR = {"*": 10}, 3  # 2 confirmations: 60 s
    btc = factories.currency("BTC", confirmations=2, hot_min=0, hot_target=Decimal(1), hot_max=Decimal(2))
    settings.SIMCHAIN_FAULTS = {"BTC": {"drop_broadcasts": True}}  # from settings, as a staging venue would
    fund(UserFactory(), "5")
    assert custody.run_policy() == {"BTC": "swept"}
    SimulatedChain("BTC").mine(10)
    custody.follow_transfers()
    assert reconcile().ok
    sweep = CustodyTransfer.objects.get()
    CustodyTransfer.objects.filter(pk=sweep.pk).update(sent_at=timezone.now() - dt.timedelta(seconds=61))
    (stuck,) = reconcile().mismatches
    assert stuck["check"] == "stuck transfer" and sweep.txid in stuck["detail"]
    assert btc.code in stuck["subject"]


class SettlementTimer:
    """Batches of BTC-USDT fills (each paying a fee into the BTC fee account) settled by a real matcher."""

    def __init__(self, m):
        self.m, self.seller, self.buyer = m, funded_trader(btc="1"), funded_trader(usdt="100000")

    def batch(self) -> float:
        place(self.seller, side="sell", type="limit", price="100.00", quantity="0.01")
        place(self.buyer, side="buy", type="limit", price="100.00", quantity="0.01")
        started = time.monotonic()
        drain(self.m)
        return time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_a_slow_node_does_not_stall_settlement(market):
    """Every call to the BTC node answers 3 s late while a withdrawal is sent; meanwhile the matcher
    settles batches on BTC-USDT (users' and the BTC fee account), none waiting a second."""
    Currency.objects.filter(code="BTC").update(
        confirmations=2, withdrawal_fee=Decimal("0.0002"), min_withdrawal=Decimal("0.001"),
        auto_approve_limit=Decimal(5), limit_reference_price=Decimal(1000),
    )  # fmt: skip
    ledger.system_account(Account.Kind.FEES, "BTC")
    user = verified_user()
    fund(user, "1")
    trusted(user)
    withdrawal = withdrawals.request_withdrawal(user=user, currency_code="BTC", amount=Decimal("0.1"),
                                                address=address(), otp_code="backupaaa1")  # fmt: skip
    chain_faults.set_faults(currency="BTC", faults=Faults(delay_seconds=3), actor=None, reason=DRILL)
    results = []

    def send():
        try:
            results.append(withdrawals.send(withdrawal_id=withdrawal.pk))
        finally:
            connection.close()

    with matcher(["BTC-USDT"]) as m:
        drain(m)
        timer = SettlementTimer(m)
        sending = threading.Thread(target=send, daemon=True)
        started = time.monotonic()
        sending.start()
        took = [timer.batch() for _ in range(5)]
        overlapped = sending.is_alive()
    sending.join(60)
    assert overlapped, "the send was done before the batches: nothing was tested"
    assert max(took) < 1, f"settlement waited on the slow node: {took}"
    assert results == ["sent"] and time.monotonic() - started >= 6  # at least the balance and the send, late
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == W.SENT and verify_ledger() == []


# --- Who sets them, and how ---------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_set_and_clear_faults_in_the_admin_audited_and_shown_on_the_currency(btc):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = admin_login(staff)
    url = "/admin/wallets/currency/"
    asked = client.post(url, {"action": "set_chain_faults", "_selected_action": ["BTC"]})
    assert asked.status_code == 200 and "Drop broadcasts" in asked.content.decode()
    # A delay out of range is refused by the form: nothing written.
    bad = client.post(url, {"action": "set_chain_faults", "_selected_action": ["BTC"], "apply": "1",
                            "delay_seconds": "500", "reason": DRILL})  # fmt: skip
    assert bad.status_code == 200 and SimChainFault.objects.count() == 0
    # Faults without a reason are refused.
    client.post(url, {"action": "set_chain_faults", "_selected_action": ["BTC"], "apply": "1", "refuse_sends": "on",
                      "delay_seconds": "0"})  # fmt: skip
    assert not chain_faults.faults_for("BTC").active
    done = client.post(url, {"action": "set_chain_faults", "_selected_action": ["BTC"], "apply": "1",
                             "refuse_sends": "on", "delay_seconds": "2.5", "reason": DRILL}, follow=True)  # fmt: skip
    assert "refuses sends, answers 2.5 s late" in done.content.decode()
    assert chain_faults.faults_for("BTC") == Faults(refuse_sends=True, delay_seconds=2.5)
    (row,) = audit_rows("wallets.simchain_faults_set")
    assert (row.actor, row.target_id, row.reason) == (staff, "BTC", DRILL)
    assert row.data["before"]["refuse_sends"] is False and row.data["after"]["refuse_sends"] is True
    page = client.get(f"{url}BTC/change/").content.decode()
    assert "ACTIVE: refuses sends, answers 2.5 s late" in page and DRILL in page
    chain_faults.set_faults(currency="BTC", faults=Faults(refuse_sends=True), actor=staff, reason=DRILL)
    client.post(url, {"action": "clear_chain_faults", "_selected_action": ["BTC"]})
    assert not chain_faults.faults_for("BTC").active
    assert len(audit_rows("wallets.simchain_faults_set")) == 3
    assert "ACTIVE" not in client.get(f"{url}BTC/change/").content.decode()


@pytest.mark.django_db
def test_faults_exist_only_on_the_simulated_chain_and_are_checked(btc, settings):
    with pytest.raises(ChainFaultsRefused, match="between 0 and 120"):
        chain_faults.set_faults(currency="BTC", faults=Faults(delay_seconds=121), actor=None, reason=DRILL)
    with pytest.raises(ChainFaultsRefused, match="No currency"):
        chain_faults.set_faults(currency="XYZ", faults=Faults(unreachable=True), actor=None, reason=DRILL)
    settings.WALLET_CHAIN_ADAPTERS = {"*": f"{__name__}.NotSimulated"}
    with pytest.raises(ChainFaultsRefused, match="not on the simulated chain"):
        chain_faults.set_faults(currency="BTC", faults=Faults(unreachable=True), actor=None, reason=DRILL)
    assert SimChainFault.objects.count() == 0 and audit_rows("wallets.simchain_faults_set") == []


class NotSimulated:
    """An adapter that is not the simulated chain (a real node's)."""

    def __init__(self, currency):
        self.currency = currency


@pytest.mark.django_db
def test_the_command_shows_sets_clears_and_rebroadcasts(btc):
    factories.currency("USDT")
    out = StringIO()
    call_command("simchain_faults", "btc", "--drop-broadcasts", "--delay", "1", "--reason", DRILL, stdout=out)
    assert "BTC: drops broadcasts, answers 1 s late" in out.getvalue()
    out = StringIO()
    call_command("simchain_faults", stdout=out)
    assert out.getvalue().splitlines() == ["BTC: drops broadcasts, answers 1 s late", "USDT: none"]
    with pytest.raises(CommandError, match="Say why"):
        call_command("simchain_faults", "USDT", "--unreachable")
    with pytest.raises(CommandError, match="alone"):
        call_command("simchain_faults", "BTC", "--clear", "--unreachable")
    chain = SimulatedChain("BTC")
    txid = chain.send(wallet="hot", to_address=chain.wallet_address("external"), amount=Decimal(0), reference="x")
    chain.mine(3)
    assert chain.confirmations(txid) == 0  # dropped: never mined
    out = StringIO()
    call_command("simchain_faults", "BTC", "--clear", "--rebroadcast", stdout=out)
    assert "1 dropped transaction(s) broadcast again" in out.getvalue() and out.getvalue().endswith("BTC: none\n")
    chain.mine(1)
    assert chain.confirmations(txid) == 1
    assert [r.reason for r in audit_rows("wallets.simchain_faults_set")] == [
        DRILL,
        "cleared with manage.py simchain_faults",
    ]
    assert len(audit_rows("wallets.simchain_rebroadcast")) == 1
