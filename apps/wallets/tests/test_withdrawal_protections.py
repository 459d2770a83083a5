"""Withdrawal protections (issue 10): the per-currency halt, and the address book with its
new-address cool-down."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import services as account_services
from apps.accounts.tests.conftest import totp_code
from apps.core.exceptions import DomainError
from apps.core.fields import format_time
from apps.core.models import AuditEvent, IdempotencyKey
from apps.wallets import address_book, halts, tasks, withdrawals
from apps.wallets.exceptions import UnknownCurrency
from apps.wallets.models import Currency, Withdrawal, WithdrawalAddress
from apps.wallets.reconciliation import reconcile
from apps.wallets.simchain import SimulatedChain
from apps.wallets.tests.test_withdrawals import (
    address,
    balances,
    client_for,
    code_for,
    fund,
    make_btc,
    post,
    trusted,
    verified_user,
)
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import PASSWORD, UserFactory

W = Withdrawal.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def btc(db):
    return make_btc()


@pytest.fixture
def user(btc):
    """Funded, level 2, 2FA on, and an empty address book."""
    user = verified_user()
    fund(user)
    return user


def error(response):
    return response.json()["error"]


def audit_rows(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def age(entry_filter, **delta):
    """Move address-book entries back in time (the project freezes no clock: the row is the clock)."""
    WithdrawalAddress.objects.filter(**entry_filter).update(created_at=F("created_at") - dt.timedelta(**delta))


# --- The per-currency halt ------------------------------------------------------------------------


def test_a_halted_currency_refuses_withdrawals_403_and_writes_nothing(user, btc):
    trusted(user)
    halts.halt_withdrawals(currencies=["BTC"], reason="node upgrade", actor=None)
    client, code = client_for(user), code_for(user)
    before, audits = balances(user, btc), AuditEvent.objects.count()
    body = {"currency": "btc", "amount": "0.1", "address": address(), "otp_code": code}
    response = client.post("/api/v1/withdrawals", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 403
    assert error(response) == {"code": "withdrawals_halted", "message": error(response)["message"],
                               "details": {"currency": "BTC", "reason": "node upgrade"}}  # fmt: skip
    # Checked before anything else: not even a new address is registered.
    fresh = post(client, user, address=SimulatedChain("BTC").new_address(wallet="external"), otp_code=code)
    assert error(fresh)["code"] == "withdrawals_halted"
    assert Withdrawal.objects.count() == 0 and balances(user, btc) == before
    assert WithdrawalAddress.objects.filter(user=user).count() == 1 and AuditEvent.objects.count() == audits
    assert not IdempotencyKey.objects.exists()
    # The code was not used up: it is accepted once withdrawals resume.
    halts.resume_withdrawals(currencies=["BTC"], actor=None)
    assert post(client, user, otp_code=code).status_code == 201


def test_halt_and_resume_write_who_why_and_which_to_the_audit_log(btc):
    usdt = factories.currency("USDT")
    ops = UserFactory(is_staff=True)
    assert halts.halt_withdrawals(reason="  kill_switch ", actor=ops) == ["BTC", "USDT"]  # None: every currency
    btc.refresh_from_db()
    assert (btc.withdrawals_halted, btc.withdrawals_halt_reason) == (True, "kill_switch")
    rows = audit_rows("wallets.withdrawals_halted")
    assert [(r.actor, r.target_id, r.reason, r.data) for r in rows] == [
        (ops, "BTC", "kill_switch", {"currencies": ["BTC", "USDT"]}),
        (ops, "USDT", "kill_switch", {"currencies": ["BTC", "USDT"]}),
    ]
    # Halting again changes nothing and writes nothing: an existing halt keeps its reason.
    assert halts.halt_withdrawals(currencies=["btc"], reason="another", actor=ops) == []
    assert len(audit_rows("wallets.withdrawals_halted")) == 2
    # Operations resume USDT, then halt it for their own reason.
    assert halts.resume_withdrawals(currencies=["USDT"], actor=ops, reason="checked") == ["USDT"]
    assert halts.halt_withdrawals(currencies=["USDT"], reason="node fork", actor=ops) == ["USDT"]
    # The kill switch resumes only what it halted.
    assert halts.resume_withdrawals(actor=None, only_reason="kill_switch") == ["BTC"]
    usdt.refresh_from_db()
    assert (usdt.withdrawals_halted, usdt.withdrawals_halt_reason) == (True, "node fork")
    resumed = audit_rows("wallets.withdrawals_resumed")
    assert [(r.actor, r.target_id, r.reason, r.data) for r in resumed] == [
        (ops, "USDT", "checked", {"halt_reason": "kill_switch", "currencies": ["USDT"]}),
        (None, "BTC", "", {"halt_reason": "kill_switch", "currencies": ["BTC"]}),
    ]
    assert halts.resume_withdrawals(actor=None, only_reason="kill_switch") == []


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"currencies": ["BTC", "DOGE"], "reason": "x"}, "unknown_currency", "currency"),
        ({"currencies": ["BTC"], "reason": "  "}, "invalid_request", "reason"),
        ({"currencies": ["BTC"], "reason": "x" * 201}, "invalid_request", "reason"),
    ],
)
def test_a_bad_halt_is_refused_whole(btc, kwargs, code, field):
    with pytest.raises(DomainError) as refused:
        halts.halt_withdrawals(actor=None, **kwargs)
    assert refused.value.code == code and field in refused.value.details
    btc.refresh_from_db()
    assert not btc.withdrawals_halted and not AuditEvent.objects.exists()


def test_resuming_an_unknown_currency_is_refused(btc):
    halts.halt_withdrawals(reason="x", actor=None)
    with pytest.raises(UnknownCurrency):
        halts.resume_withdrawals(currencies=["BTC", "NOPE"], actor=None)
    btc.refresh_from_db()
    assert btc.withdrawals_halted


def test_the_send_task_leaves_a_halted_currencys_withdrawals_approved_and_sends_them_after_resume(user, btc):
    trusted(user)
    assert post(client_for(user), user).status_code == 201
    halts.halt_withdrawals(currencies=["BTC"], reason="hot wallet audit", actor=None)
    assert tasks.send_withdrawals() == {"sent": 0, "waiting": 0, "failed": 0, "halted": 1}  # the beat task
    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.status, withdrawal.send_started_at, withdrawal.txid) == (W.APPROVED, None, "")
    assert balances(user, btc) == (Decimal("0.8998"), Decimal("0.1002"))  # still held, not lost
    assert withdrawals.hot_wallet_shortfall_seconds() == 0  # waiting on purpose: no hot-wallet alert
    assert SimulatedChain("BTC").balance(wallet="hot", min_confirmations=0) == Decimal(1)
    halts.resume_withdrawals(currencies=["BTC"], actor=None)
    assert tasks.send_withdrawals() == {"sent": 1, "waiting": 0, "failed": 0, "halted": 0}
    withdrawal.refresh_from_db()
    assert withdrawal.status == W.SENT and withdrawal.txid
    SimulatedChain("BTC").mine(2)
    assert verify_ledger() == [] and reconcile().ok


def test_a_halt_between_the_two_send_steps_stops_the_send_before_the_chain(user, btc, monkeypatch):
    trusted(user)
    post(client_for(user), user)
    real_lock = halts.lock_halt_state
    calls = []

    def halt_after_step_one(currency):
        calls.append(currency.code)
        if len(calls) == 2:  # step 1 committed send_started_at; operations halt now
            Currency.objects.filter(pk=currency.pk).update(withdrawals_halted=True, withdrawals_halt_reason="x")
        return real_lock(currency)

    monkeypatch.setattr(halts, "lock_halt_state", halt_after_step_one)
    assert withdrawals.send_approved()["halted"] == 1
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.status == W.APPROVED and withdrawal.send_started_at is not None and not withdrawal.txid
    assert SimulatedChain("BTC").balance(wallet="hot", min_confirmations=0) == Decimal(1)  # the chain was not asked
    monkeypatch.setattr(halts, "lock_halt_state", real_lock)
    halts.resume_withdrawals(actor=None)
    assert withdrawals.send_approved()["sent"] == 1
    assert withdrawals.send_approved()["sent"] == 0
    SimulatedChain("BTC").mine(2)
    assert verify_ledger() == [] and reconcile().ok


def test_users_may_cancel_a_withdrawal_held_by_a_halt(user, btc):
    trusted(user)
    client = client_for(user)
    created = post(client, user).json()
    halts.halt_withdrawals(reason="incident", actor=None)
    response = client.post(f"/api/v1/withdrawals/{created['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert balances(user, btc) == (Decimal(1), 0)


@pytest.mark.django_db(transaction=True)
def test_a_halt_waits_for_a_withdrawal_past_its_check_and_none_is_accepted_after_it():
    """The accepting transaction reads the flag under FOR SHARE: the halt commits after it, never
    in the middle; and once the halt has committed, the in-transaction check refuses."""
    btc = make_btc()
    done = threading.Event()
    with transaction.atomic():
        halts.lock_halt_state(btc)

        def halt():
            try:
                halts.halt_withdrawals(currencies=["BTC"], reason="race", actor=None)
            finally:
                done.set()
                connection.close()

        thread = threading.Thread(target=halt)
        thread.start()
        assert not done.wait(0.5)  # blocked by our share lock
    assert done.wait(10)
    thread.join(5)
    btc.refresh_from_db()
    assert btc.withdrawals_halted
    # A request that passed the first (unlocked) check before the halt is refused inside.
    btc.withdrawals_halted = False
    with pytest.raises(DomainError) as refused, transaction.atomic():
        halts.refuse_if_halted(halts.lock_halt_state(btc))
    assert refused.value.code == "withdrawals_halted"


def admin_client():
    staff = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post("/admin/login/", {"username": staff.username, "password": PASSWORD,
                                  "otp_device": device.persistent_id, "otp_token": totp_code(device)})  # fmt: skip
    return client, staff


def test_staff_halt_and_resume_from_the_admin_with_a_reason_in_the_audit_log(btc):
    factories.currency("USDT")
    client, staff = admin_client()
    url = "/admin/wallets/currency/"
    asked = client.post(url, {"action": "halt_withdrawals", "_selected_action": ["BTC"]})
    assert asked.status_code == 200 and b"reason" in asked.content  # the form asks why
    missing = client.post(url, {"action": "halt_withdrawals", "_selected_action": ["BTC"], "apply": "1"})
    assert missing.status_code == 200 and not Currency.objects.get(pk="BTC").withdrawals_halted
    client.post(url, {"action": "halt_withdrawals", "_selected_action": ["BTC"], "apply": "1", "reason": "exploit"})
    btc.refresh_from_db()
    assert (btc.withdrawals_halted, btc.withdrawals_halt_reason) == (True, "exploit")
    (row,) = audit_rows("wallets.withdrawals_halted")
    assert (row.actor, row.target_id, row.reason) == (staff, "BTC", "exploit")
    listing = client.get(url).content.decode()
    assert "exploit" in listing and "Withdrawals halted" in listing  # status and reason in the list
    assert not Currency.objects.get(pk="USDT").withdrawals_halted
    # The change form cannot flip the flag behind the audit log's back.
    change = client.get(f"{url}BTC/change/").content.decode()
    assert 'name="withdrawals_halted"' not in change
    client.post(url, {"action": "resume_withdrawals", "_selected_action": ["BTC", "USDT"]})
    btc.refresh_from_db()
    assert not btc.withdrawals_halted
    (row,) = audit_rows("wallets.withdrawals_resumed")
    assert (row.actor, row.target_id, row.data["halt_reason"]) == (staff, "BTC", "exploit")


# --- The address book and the new-address cool-down ---------------------------------------------


def test_a_new_address_is_refused_then_usable_once_its_cooldown_has_passed(user, btc):
    client, code, to = client_for(user), code_for(user), address()
    before = balances(user, btc)
    refused = post(client, user, address=to, otp_code=code)
    assert refused.status_code == 403 and error(refused)["code"] == "address_cooldown"
    entry = WithdrawalAddress.objects.get(user=user)
    assert (entry.address, entry.currency_id, entry.confirmed_at) == (to, "BTC", None)
    assert error(refused)["details"] == {
        "address": to,
        "usable_at": format_time(entry.created_at + dt.timedelta(hours=24)),
    }
    assert Withdrawal.objects.count() == 0 and balances(user, btc) == before
    (row,) = audit_rows("wallets.withdrawal_address_registered")
    assert (row.actor, row.target_id) == (user, str(entry.pk))
    # Still cooling down a minute before the end; the clock did not restart.
    age({"pk": entry.pk}, hours=23, minutes=59)
    again = post(client, user, address=to, otp_code=code)
    assert error(again)["code"] == "address_cooldown"
    assert WithdrawalAddress.objects.count() == 1
    # Past the cool-down the same request (and the same, unused, code) goes through.
    age({"pk": entry.pk}, minutes=1)
    accepted = post(client, user, address=to, otp_code=code)
    assert accepted.status_code == 201, accepted.content
    assert verify_ledger() == []


def test_the_cooldown_is_a_setting(user, btc, settings):
    settings.WITHDRAWAL_ADDRESS_COOLDOWN_HOURS = 1.5
    client = client_for(user)
    refused = post(client, user)
    entry = WithdrawalAddress.objects.get()
    assert error(refused)["details"]["usable_at"] == format_time(entry.created_at + dt.timedelta(minutes=90))
    age({"pk": entry.pk}, minutes=90)
    assert post(client, user).status_code == 201


def test_a_cooldown_refusal_keeps_its_registration_with_an_idempotency_key(user, btc):
    client, code = client_for(user), code_for(user)
    body = {"currency": "BTC", "amount": "0.1", "address": address(), "otp_code": code}
    refused = client.post("/api/v1/withdrawals", body, format="json", HTTP_IDEMPOTENCY_KEY="w-1")
    assert error(refused)["code"] == "address_cooldown"
    assert WithdrawalAddress.objects.filter(user=user, confirmed_at__isnull=True).count() == 1  # kept
    assert not IdempotencyKey.objects.exists()  # the key is free for the retry
    age({"user": user}, hours=24)
    retried = client.post("/api/v1/withdrawals", body, format="json", HTTP_IDEMPOTENCY_KEY="w-1")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried


def test_a_confirmed_address_book_entry_is_usable_at_once(user, btc):
    client, to = client_for(user), address()
    added = client.post("/api/v1/withdrawal-addresses", {"currency": "BTC", "address": to, "label": "ledger nano",
                                                         "otp_code": code_for(user)}, format="json")  # fmt: skip
    assert added.status_code == 201, added.content
    body = added.json()
    assert (body["currency"], body["address"], body["label"], body["confirmed"]) == ("BTC", to, "ledger nano", True)
    assert body["usable_at"] == body["confirmed_at"]
    assert post(client, user, address=to, otp_code="backupaaa1").status_code == 201
    (row,) = audit_rows("wallets.withdrawal_address_confirmed")
    assert (row.actor, row.data["address"]) == (user, to)


def test_confirming_a_registered_address_with_2fa_ends_its_cooldown(user, btc):
    client, to = client_for(user), address()
    assert error(post(client, user, address=to))["code"] == "address_cooldown"
    confirmed = client.post("/api/v1/withdrawal-addresses", {"currency": "BTC", "address": to,
                                                             "otp_code": "backupaaa1"}, format="json")  # fmt: skip
    assert confirmed.status_code == 200 and confirmed.json()["confirmed"] is True
    assert WithdrawalAddress.objects.count() == 1
    assert post(client, user, address=to, otp_code="backupbbb2").status_code == 201


def test_an_entry_is_per_currency(user, btc):
    factories.currency("ETH", limit_reference_price=Decimal(3000))
    trusted(user, to=SimulatedChain("ETH").wallet_address("external"), currency="ETH")
    assert error(post(client_for(user), user))["code"] == "address_cooldown"  # BTC: not in the book


def address_book_post(client, user, **body):
    payload = {"currency": "BTC", "address": address(), **body}
    payload.setdefault("otp_code", code_for(user) if "otp_code" not in body else None)
    return client.post("/api/v1/withdrawal-addresses", {k: v for k, v in payload.items() if v is not None},
                       format="json")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"address": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, 400, "invalid_address", None),
        ({"otp_code": "000000x"}, 400, "invalid_otp", None),
        ({"otp_code": None}, 400, "invalid_request", "otp_code"),
        ({"otp_code": ""}, 400, "invalid_request", "otp_code"),
        ({"currency": "DOGE"}, 404, "unknown_currency", None),
        ({"currency": None}, 400, "invalid_request", "currency"),
        ({"address": None}, 400, "invalid_request", "address"),
        ({"address": "x" * 129}, 400, "invalid_request", "address"),
        ({"label": "x" * 65}, 400, "invalid_request", "label"),
        ({"label": ["a"]}, 400, "invalid_request", "label"),
    ],
)
def test_bad_address_book_requests_are_refused_and_change_nothing(user, btc, body, status, code, field):
    response = address_book_post(client_for(user), user, **body)
    assert response.status_code == status, response.content
    assert error(response)["code"] == code
    if field:
        assert field in error(response)["details"]
    assert not WithdrawalAddress.objects.exists() and not AuditEvent.objects.filter(action__contains="address")


def test_a_body_that_is_not_an_object_is_400(user, btc):
    response = client_for(user).post("/api/v1/withdrawal-addresses", ["BTC"], format="json")
    assert response.status_code == 400 and error(response)["code"] == "invalid_request"


def test_a_duplicate_entry_is_409_and_keeps_the_code(user, btc):
    client = client_for(user)
    first = address_book_post(client, user, otp_code="backupaaa1")
    code = code_for(user)
    duplicate = address_book_post(client, user, otp_code=code)
    assert duplicate.status_code == 409
    assert error(duplicate)["code"] == "address_exists" and error(duplicate)["details"] == {"id": first.json()["id"]}
    assert WithdrawalAddress.objects.count() == 1
    assert post(client, user, otp_code=code).status_code == 201  # the code was not used up


def test_the_address_book_needs_two_factor(btc):
    user = verified_user(two_factor=False)
    response = address_book_post(client_for(user), user, otp_code="123456")
    assert response.status_code == 403 and error(response)["code"] == "two_factor_required"
    assert not WithdrawalAddress.objects.exists()


def test_the_address_book_lists_and_deletes_only_the_users_own_entries(user, btc):
    client, other = client_for(user), verified_user()
    mine = address_book_post(client, user, label="cold storage").json()
    theirs = trusted(other)
    their_entry = WithdrawalAddress.objects.get(user=other)
    listed = client.get("/api/v1/withdrawal-addresses").json()
    assert [e["id"] for e in listed["results"]] == [mine["id"]] and listed["next"] is None
    assert client.delete(f"/api/v1/withdrawal-addresses/{their_entry.pk}").status_code == 404
    assert WithdrawalAddress.objects.filter(user=other, address=theirs).exists()
    deleted = client.delete(f"/api/v1/withdrawal-addresses/{mine['id']}")
    assert deleted.status_code == 204
    (row,) = audit_rows("wallets.withdrawal_address_removed")
    assert (row.actor, row.target_id, row.data["address"]) == (user, str(mine["id"]), address())
    gone = client.delete(f"/api/v1/withdrawal-addresses/{mine['id']}")
    assert gone.status_code == 404 and error(gone)["code"] == "not_found"
    # Removed from the book, the address is new again.
    assert error(post(client, user))["code"] == "address_cooldown"


def test_an_unconfirmed_entry_is_listed_with_when_it_becomes_usable(user, btc):
    client = client_for(user)
    post(client, user)
    (entry,) = client.get("/api/v1/withdrawal-addresses").json()["results"]
    stored = WithdrawalAddress.objects.get()
    assert entry["confirmed"] is False and entry["confirmed_at"] is None
    assert entry["usable_at"] == format_time(stored.created_at + dt.timedelta(hours=24))


def test_an_address_book_post_is_idempotent_with_a_key(user, btc):
    client = client_for(user)
    body = {"currency": "BTC", "address": address(), "otp_code": code_for(user)}
    first = client.post("/api/v1/withdrawal-addresses", body, format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    again = client.post("/api/v1/withdrawal-addresses", body, format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    assert first.status_code == 201 and (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true" and WithdrawalAddress.objects.count() == 1


def test_api_keys_read_the_address_book_but_cannot_change_it(btc):
    import json

    from apps.accounts import signing
    from apps.accounts.tests.conftest import as_meta

    owner = UserFactory()
    created = account_services.create_api_key(user=owner, label="bot", permissions=["read", "withdraw"],
                                              ip_allowlist=["127.0.0.1"])  # fmt: skip
    trusted(owner)
    entry = WithdrawalAddress.objects.get(user=owner)

    def signed(method, path, body=None):
        raw = json.dumps(body).encode() if body is not None else b""
        meta = as_meta(signing.signed_headers(created.api_key.key, created.secret, method, path, raw))
        call = getattr(Client(REMOTE_ADDR="127.0.0.1"), method.lower())
        return call(path, data=raw, content_type="application/json", **meta)

    assert signed("GET", "/api/v1/withdrawal-addresses").status_code == 200
    refused = signed("POST", "/api/v1/withdrawal-addresses", {"currency": "BTC", "address": address()})
    assert refused.status_code == 403 and error(refused)["code"] == "permission_denied"
    assert signed("DELETE", f"/api/v1/withdrawal-addresses/{entry.pk}").status_code == 403
    assert WithdrawalAddress.objects.filter(pk=entry.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_registers_addresses_already_withdrawn_to():
    """Migration 0010: past withdrawals' addresses are not new (their cool-down runs from the first
    one); failed and cancelled ones do not count."""
    from django.db.migrations.executor import MigrationExecutor

    btc = make_btc()
    user = UserFactory()
    executor = MigrationExecutor(connection)
    executor.migrate([("wallets", "0009_withdrawal_halt_and_sandbox")])
    try:
        rows = [("old", W.CONFIRMED, 30), ("old", W.SENT, 2), ("recent", W.APPROVED, 0), ("refused", W.FAILED, 30)]
        for to, status, days in rows:
            withdrawal = Withdrawal.objects.create(user=user, currency=btc, address=to, amount=1, fee=0,
                                                   reference_value=1, status=status)  # fmt: skip
            Withdrawal.objects.filter(pk=withdrawal.pk).update(created_at=F("created_at") - dt.timedelta(days=days))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    entries = {e.address: e for e in WithdrawalAddress.objects.filter(user=user)}
    assert sorted(entries) == ["old", "recent"]
    first = Withdrawal.objects.filter(address="old").order_by("created_at").first()
    assert entries["old"].created_at == first.created_at and entries["old"].confirmed_at is None
    address_book.require_usable_address(user=user, currency=btc, address="old")  # long past its cool-down
    with pytest.raises(DomainError) as refused:
        address_book.require_usable_address(user=user, currency=btc, address="recent")
    assert refused.value.code == "address_cooldown"
