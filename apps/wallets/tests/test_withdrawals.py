"""Withdrawals through the API and the tasks, on the simulated chain."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.tests.conftest import totp_code
from apps.kyc.models import Submission
from apps.wallets import deposits, ledger, withdrawals
from apps.wallets.breaker import ChainUnavailable
from apps.wallets.models import Account, Withdrawal, WithdrawalAddress
from apps.wallets.reconciliation import reconcile
from apps.wallets.simchain import SimulatedChain
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import PASSWORD, UserFactory

W = Withdrawal.Status


def make_btc():
    return factories.currency(
        "BTC", confirmations=2, withdrawal_fee=Decimal("0.0002"), min_withdrawal=Decimal("0.001"),
        auto_approve_limit=Decimal("0.5"), limit_reference_price=Decimal(60000),
    )  # fmt: skip


def verified_user(level=2, two_factor=True):
    user = UserFactory()
    if level:
        Submission.objects.create(
            user=user, status="approved" if level == 2 else "pending", full_name="X", date_of_birth=dt.date(1990, 1, 1),
            country="DE", document_type="passport", document_number="X123", decided_at=None,
        )  # fmt: skip
    if two_factor:
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        backup = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
        for code in ("backupaaa1", "backupbbb2", "backupccc3"):
            StaticToken.objects.create(device=backup, token=code)
    return user


def fund(user, amount="1"):
    deposits.simulate_deposit(user=user, currency_code="BTC", amount=Decimal(amount), confirmations=2)
    deposits.process_deposits()


def client_for(user):
    client = APIClient()
    access = account_services.login(username=user.username, password=PASSWORD,
                                    otp_code=None if not TOTPDevice.objects.filter(user=user).exists()
                                    else "backupccc3").access  # fmt: skip
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def code_for(user, offset=0):
    return totp_code(TOTPDevice.objects.get(user=user), offset)


def address():
    return SimulatedChain("BTC").wallet_address("external")


def trusted(user, to=None, currency="BTC"):
    """Put an address (the default test address) in the user's address book, confirmed as a 2FA
    code would, so that withdrawals to it skip the new-address cool-down (tested in
    test_withdrawal_protections)."""
    to = to or address()
    WithdrawalAddress.objects.create(user=user, currency_id=currency, address=to, confirmed_at=timezone.now())
    return to


def balances(user, btc):
    account = ledger.user_account(user, btc)
    account.refresh_from_db()
    return account.available, account.locked


@pytest.fixture
def btc(db):
    return make_btc()


@pytest.fixture
def withdrawer(btc):
    """A user who may withdraw: KYC level 2 and 2FA, 1 BTC deposited, the test address trusted."""
    user = verified_user()
    fund(user)
    trusted(user)
    return user


def post(client, user, **body):
    payload = {"currency": "BTC", "amount": "0.1", "address": address(), **body}
    payload.setdefault("otp_code", code_for(user) if "otp_code" not in body else None)
    return client.post("/api/v1/withdrawals", payload, format="json")


@pytest.mark.django_db
def test_a_small_withdrawal_goes_out_and_confirms(withdrawer, btc):
    client = client_for(withdrawer)
    response = post(client, withdrawer)
    assert response.status_code == 201 and response.json()["status"] == "approved"
    assert balances(withdrawer, btc) == (Decimal("0.8998"), Decimal("0.1002"))  # amount + fee held
    assert withdrawals.send_approved() == {"sent": 1, "waiting": 0, "failed": 0, "halted": 0}
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == W.SENT and withdrawal.txid
    assert balances(withdrawer, btc) == (Decimal("0.8998"), 0)
    fees = ledger.system_account(Account.Kind.FEES, btc)
    fees.refresh_from_db()
    assert fees.available == Decimal("0.0002")
    assert withdrawals.send_approved() == {"sent": 0, "waiting": 0, "failed": 0, "halted": 0}  # never twice
    SimulatedChain("BTC").mine(2)
    assert withdrawals.follow_confirmations() == 1
    listed = client.get("/api/v1/withdrawals").json()["results"]
    assert listed[0]["status"] == "confirmed" and listed[0]["amount"] == "0.10000000" and listed[0]["txid"]
    assert verify_ledger() == [] and reconcile().ok


@pytest.mark.django_db
def test_a_large_withdrawal_waits_for_staff_review(withdrawer, btc):
    response = post(client_for(withdrawer), withdrawer, amount="0.6")
    assert response.json()["status"] == "review"
    assert withdrawals.send_approved() == {"sent": 0, "waiting": 0, "failed": 0, "halted": 0}
    staff = UserFactory(is_staff=True)
    withdrawals.approve(withdrawal_id=response.json()["id"], reviewer=staff)
    assert withdrawals.send_approved()["sent"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "1.5"}, 400, "insufficient_funds"),  # 90,000 USDT: within the level-2 limit
        ({"amount": "0.0001"}, 400, "invalid_request"),  # below the minimum
        ({"amount": "0.000000001"}, 400, "invalid_request"),  # over-precise
        ({"amount": "-1"}, 400, "invalid_request"),
        ({"amount": "0"}, 400, "invalid_request"),
        ({"amount": 0.1}, 400, "invalid_request"),  # a JSON float
        ({"amount": "abc"}, 400, "invalid_request"),
        ({"address": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, 400, "invalid_address"),
        ({"currency": "DOGE"}, 404, "unknown_currency"),
        ({"otp_code": "000000x"}, 400, "invalid_otp"),
        ({"otp_code": ""}, 400, "invalid_request"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(withdrawer, btc, body, status, code):
    before = balances(withdrawer, btc)
    response = post(client_for(withdrawer), withdrawer, **body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Withdrawal.objects.count() == 0 and balances(withdrawer, btc) == before


@pytest.mark.django_db
def test_a_used_code_is_refused(withdrawer, btc):
    client, code = client_for(withdrawer), code_for(withdrawer)
    assert post(client, withdrawer, otp_code=code).status_code == 201
    again = post(client, withdrawer, otp_code=code)
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_otp"


@pytest.mark.django_db
def test_without_two_factor_or_kyc_withdrawals_are_refused(btc):
    no_2fa = verified_user(two_factor=False)
    fund(no_2fa)
    response = post(client_for(no_2fa), no_2fa, otp_code="123456")
    assert response.status_code == 403 and response.json()["error"]["code"] == "two_factor_required"
    no_kyc = verified_user(level=0)
    fund(no_kyc)
    response = post(client_for(no_kyc), no_kyc)
    assert response.status_code == 403 and response.json()["error"]["code"] == "kyc_required"


@pytest.mark.django_db
def test_the_daily_limit_of_the_level_applies(btc):
    basic = verified_user(level=1)  # 1,000 USDT a day; 0.1 BTC is 6,000
    fund(basic)
    trusted(basic)
    client = client_for(basic)
    response = post(client, basic, amount="0.01")  # 600
    assert response.status_code == 201
    over = post(client, basic, amount="0.01", otp_code="backupaaa1")  # 1,200 in a day
    assert over.status_code == 403 and over.json()["error"]["code"] == "limit_exceeded"


@pytest.mark.django_db
def test_cancel_before_sending_releases_the_hold(withdrawer, btc):
    client = client_for(withdrawer)
    created = post(client, withdrawer).json()
    response = client.post(f"/api/v1/withdrawals/{created['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert balances(withdrawer, btc) == (Decimal(1), 0)
    sent = post(client, withdrawer, otp_code="backupaaa1").json()
    withdrawals.send_approved()
    refused = client.post(f"/api/v1/withdrawals/{sent['id']}/cancel")
    assert refused.status_code == 409
    other = client_for(verified_user()).post(f"/api/v1/withdrawals/{sent['id']}/cancel")
    assert other.status_code == 404
    assert verify_ledger() == []


@pytest.mark.django_db
def test_an_empty_hot_wallet_makes_withdrawals_wait_never_go_short(withdrawer, btc):
    post(client_for(withdrawer), withdrawer)
    chain = SimulatedChain("BTC")
    hot, cold = ledger.system_account(Account.Kind.HOT, btc), ledger.system_account(Account.Kind.COLD, btc)
    # Custody moves everything to cold (ledger and chain together).
    ledger.post(
        kind="custody", idempotency_key="sweep-1", legs=[ledger.Leg(hot, Decimal(1)), ledger.Leg(cold, Decimal(-1))]
    )
    chain.send(wallet="hot", to_address=chain.wallet_address("cold"), amount=Decimal(1), reference="sweep-1")
    chain.mine(2)
    assert withdrawals.send_approved() == {"sent": 0, "waiting": 1, "failed": 0, "halted": 0}
    assert Withdrawal.objects.get().status == W.APPROVED and withdrawals.hot_wallet_shortfall_seconds() >= 0
    ledger.post(
        kind="custody",
        idempotency_key="refill-1",
        legs=[ledger.Leg(cold, Decimal("0.5")), ledger.Leg(hot, Decimal("-0.5"))],
    )
    chain.send(wallet="cold", to_address=chain.wallet_address("hot"), amount=Decimal("0.5"), reference="refill-1")
    chain.mine(2)
    assert withdrawals.send_approved()["sent"] == 1
    assert reconcile().ok


@pytest.mark.django_db(transaction=True)
def test_two_withdrawals_racing_for_one_balance():
    btc = make_btc()
    user = verified_user()
    fund(user, "0.5")
    trusted(user)
    results = []
    barrier = threading.Barrier(2)

    def withdraw(code):
        try:
            barrier.wait()
            withdrawals.request_withdrawal(user=user, currency_code="BTC", amount=Decimal("0.3"), address=address(),
                                           otp_code=code)  # fmt: skip
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - asserted below
            results.append(getattr(exc, "code", repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=withdraw, args=(c,)) for c in ("backupaaa1", "backupbbb2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["insufficient_funds", "ok"]
    available, locked = balances(user, btc)
    assert available >= 0 and locked == Decimal("0.3002")
    assert verify_ledger() == []


@pytest.mark.django_db
def test_a_send_that_dies_half_way_leaves_nothing_and_the_retry_sends_once(withdrawer, btc, monkeypatch):
    """Fault injection: the process dies after the chain send, before the ledger posting."""
    post(client_for(withdrawer), withdrawer)
    real_consume = ledger.consume

    def die(**kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(ledger, "consume", die)
    with pytest.raises(SystemExit):
        withdrawals.send_approved()
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == W.APPROVED and withdrawal.txid == ""
    assert SimulatedChain("BTC").balance(wallet="hot", min_confirmations=0) == Decimal(1)  # nothing left the wallet
    monkeypatch.setattr(ledger, "consume", real_consume)
    assert withdrawals.send_approved()["sent"] == 1
    assert withdrawals.send_approved()["sent"] == 0
    SimulatedChain("BTC").mine(2)
    assert verify_ledger() == [] and reconcile().ok


@pytest.mark.django_db
def test_superusers_inject_deposits_from_the_admin(btc):
    from django.test import Client

    from apps.wallets.models import DepositAddress

    user = UserFactory()
    deposits.deposit_address(user=user, currency_code="BTC")
    staff = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post("/admin/login/", {"username": staff.username, "password": PASSWORD,
                                  "otp_device": device.persistent_id, "otp_token": totp_code(device)})  # fmt: skip
    address_pk = DepositAddress.objects.get(user=user).pk
    client.post("/admin/wallets/depositaddress/", {"action": "inject_deposit", "_selected_action": [address_pk],
                                                   "apply": "1", "amount": "0.3", "confirmations": "2"})  # fmt: skip
    deposits.process_deposits()
    assert ledger.user_account(user, btc).available == Decimal("0.3")
    text = client.get("/metrics").content.decode()
    assert "exchange_withdrawals_waiting_seconds 0.0" in text


@pytest.mark.django_db
def test_a_node_timeout_leaves_the_withdrawal_to_retry_not_failed(withdrawer, btc, monkeypatch):
    client = client_for(withdrawer)
    created = post(client, withdrawer).json()
    real_send = SimulatedChain.send

    def timeout(self, **kwargs):
        raise TimeoutError("node did not answer")

    monkeypatch.setattr(SimulatedChain, "send", timeout)
    with pytest.raises(ChainUnavailable) as raised:  # an OSError: the task retries it
        withdrawals.send_approved()
    assert isinstance(raised.value.__cause__, TimeoutError)
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == W.APPROVED and withdrawal.send_started_at is not None
    assert balances(withdrawer, btc)[1] == Decimal("0.1002")  # still held
    refused = client.post(f"/api/v1/withdrawals/{created['id']}/cancel")
    assert refused.status_code == 409  # the coins may be on their way
    monkeypatch.setattr(SimulatedChain, "send", real_send)
    assert withdrawals.send_approved()["sent"] == 1
    SimulatedChain("BTC").mine(2)
    assert verify_ledger() == [] and reconcile().ok


@pytest.mark.django_db
def test_a_send_the_node_refuses_fails_and_gives_the_money_back(withdrawer, btc, monkeypatch):
    from apps.wallets.chain import ChainRejected

    post(client_for(withdrawer), withdrawer)

    def refuse(self, **kwargs):
        raise ChainRejected("address blacklisted by the node")

    monkeypatch.setattr(SimulatedChain, "send", refuse)
    assert withdrawals.send_approved() == {"sent": 0, "waiting": 0, "failed": 1, "halted": 0}
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == W.FAILED and "blacklisted" in withdrawal.failure_reason
    assert balances(withdrawer, btc) == (Decimal(1), 0)
    assert verify_ledger() == []


@pytest.mark.django_db
def test_a_withdrawal_retried_with_its_idempotency_key_is_made_once(withdrawer, btc):
    client = client_for(withdrawer)
    body = {"currency": "BTC", "amount": "0.1", "address": address(), "otp_code": code_for(withdrawer)}
    first = client.post("/api/v1/withdrawals", body, format="json", HTTP_IDEMPOTENCY_KEY="w-1")
    assert first.status_code == 201
    # The retry carries the same (now used) TOTP code: it is answered from the first request.
    again = client.post("/api/v1/withdrawals", body, format="json", HTTP_IDEMPOTENCY_KEY="w-1")
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert Withdrawal.objects.filter(user=withdrawer).count() == 1
    assert balances(withdrawer, btc) == (Decimal("0.8998"), Decimal("0.1002"))  # amount and fee held once
    other = client.post("/api/v1/withdrawals", body | {"amount": "0.2"}, format="json", HTTP_IDEMPOTENCY_KEY="w-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert verify_ledger() == []
