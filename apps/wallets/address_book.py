"""The withdrawal address book and the new-address cool-down.

An address confirmed in the user's book with a 2FA code can be withdrawn to at once. Any other
address is registered (unconfirmed) by its first withdrawal request, which is refused with 403
`address_cooldown`; withdrawals to it are accepted from WITHDRAWAL_ADDRESS_COOLDOWN_HOURS after that
registration. A stolen session and a single 2FA code are then not enough to withdraw at once to an
address the user never used (confirming it takes a code of its own): the registration shows in the
user's address book, and the user has the cool-down to notice it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts import selectors as account_selectors
from apps.accounts import services as account_services
from apps.core import audit
from apps.core.fields import format_time
from apps.wallets.chain import adapter_for
from apps.wallets.deposits import active_currency
from apps.wallets.exceptions import (
    AddressCooldown,
    InvalidAddress,
    TwoFactorRequired,
    WithdrawalAddressExists,
    WithdrawalAddressNotFound,
)
from apps.wallets.models import Currency, WithdrawalAddress


def cooldown() -> dt.timedelta:
    return dt.timedelta(hours=settings.WITHDRAWAL_ADDRESS_COOLDOWN_HOURS)


def usable_at(entry: WithdrawalAddress) -> dt.datetime:
    """When withdrawals to this entry are accepted: its confirmation, or the end of its cool-down."""
    end = entry.created_at + cooldown()
    return min(end, entry.confirmed_at) if entry.confirmed_at else end


def require_usable_address(*, user, currency: Currency, address: str) -> None:
    """Nothing for a confirmed entry or one whose cool-down has passed. Otherwise 403
    `address_cooldown` (details: address, usable_at); an address not yet in the book is first
    registered, unconfirmed, so its cool-down starts now.

    The registration is committed before the refusal is raised (its own transaction, or a savepoint
    of the caller's: `@idempotent` commits what a refusal recorded), so a refused request still
    starts the clock. Takes no lock: two first uses at once register one entry."""
    entry = WithdrawalAddress.objects.filter(user=user, currency=currency, address=address).first()
    if entry is None:
        with transaction.atomic():
            entry, created = WithdrawalAddress.objects.get_or_create(user=user, currency=currency, address=address)
            if created:
                audit.record(actor=user, action="wallets.withdrawal_address_registered", target=entry,
                             currency=currency.code, address=address)  # fmt: skip
    when = usable_at(entry)
    if when > timezone.now():
        raise AddressCooldown(details={"address": address, "usable_at": format_time(when)})


def add_withdrawal_address(
    *, user, currency_code: str, address: str, otp_code: str, label: str = ""
) -> tuple[WithdrawalAddress, bool]:
    """Confirm an address in the user's book with a 2FA code: usable at once. Returns the entry and
    whether it is new (False: an entry registered by a withdrawal, now confirmed).

    Refusals, checked before the code is used: 404 `unknown_currency`, 403 `two_factor_required`,
    400 `invalid_address` (the currency's chain adapter decides), 409 `address_exists` (already
    confirmed). Then the code: 400 `invalid_otp` (a used code is refused). Audited."""
    currency = active_currency(currency_code)
    if not account_selectors.two_factor_enabled(user):
        raise TwoFactorRequired("Turn on two-factor authentication to confirm withdrawal addresses.")
    if not adapter_for(currency.code).validate_address(address):
        raise InvalidAddress()
    existing = WithdrawalAddress.objects.filter(user=user, currency=currency, address=address).first()
    if existing is not None and existing.confirmed_at is not None:
        raise WithdrawalAddressExists(details={"id": existing.pk})
    account_services.require_second_factor(user=user, code=otp_code)
    with transaction.atomic():
        now = timezone.now()
        entry, created = WithdrawalAddress.objects.select_for_update().get_or_create(
            user=user, currency=currency, address=address, defaults={"label": label, "confirmed_at": now}
        )
        if not created:
            if entry.confirmed_at is not None:  # confirmed by a concurrent request
                raise WithdrawalAddressExists(details={"id": entry.pk})
            entry.confirmed_at, entry.label = now, label or entry.label
            entry.save(update_fields=["confirmed_at", "label"])
        audit.record(actor=user, action="wallets.withdrawal_address_confirmed", target=entry, currency=currency.code,
                     address=address, label=entry.label)  # fmt: skip
    return entry, created


def remove_withdrawal_address(*, user, address_id: int) -> None:
    """Delete one of the user's entries (404 `not_found` for another user's). A later withdrawal to
    that address starts a new cool-down. Audited."""
    with transaction.atomic():
        entry = WithdrawalAddress.objects.select_for_update().filter(pk=address_id, user=user).first()
        if entry is None:
            raise WithdrawalAddressNotFound()
        audit.record(actor=user, action="wallets.withdrawal_address_removed", target=entry,
                     currency=entry.currency_id, address=entry.address)  # fmt: skip
        entry.delete()
