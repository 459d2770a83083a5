"""The staff roles' groups: created by migrate with their permissions, and what they let a member do."""

import pytest
from django.contrib.auth.models import Group

from apps.kyc.roles import COMPLIANCE_GROUP, COMPLIANCE_PERMISSIONS
from apps.markets.roles import TRADING_GROUP, TRADING_PERMISSIONS, ensure_trading_group
from apps.site.tests.admin_fixtures import staff
from apps.wallets.roles import TREASURY_GROUP, TREASURY_PERMISSIONS, ensure_treasury_group

pytestmark = pytest.mark.django_db


def permissions_of(name: str) -> set[tuple[str, str]]:
    group = Group.objects.get(name=name)
    return set(group.permissions.values_list("content_type__app_label", "codename"))


@pytest.mark.parametrize(
    "name, wanted",
    [(COMPLIANCE_GROUP, COMPLIANCE_PERMISSIONS), (TREASURY_GROUP, TREASURY_PERMISSIONS),
     (TRADING_GROUP, TRADING_PERMISSIONS)],
)  # fmt: skip
def test_migrate_creates_each_role_with_exactly_its_permissions(name, wanted):
    assert permissions_of(name) == set(wanted)


def test_a_role_group_is_put_back_in_step():
    group = Group.objects.get(name=TREASURY_GROUP)
    group.permissions.clear()
    ensure_treasury_group()
    ensure_trading_group()
    assert permissions_of(TREASURY_GROUP) == set(TREASURY_PERMISSIONS)


def test_each_role_has_only_its_own_permissions():
    compliance, treasury, trading = staff("compliance"), staff("treasury"), staff("trading")
    assert compliance.has_perm("kyc.review_submission") and not compliance.has_perm("wallets.view_withdrawal")
    assert treasury.has_perm("wallets.change_withdrawal") and treasury.has_perm("wallets.change_custodytransfer")
    assert not treasury.has_perm("kyc.view_submission") and not treasury.has_perm("markets.use_kill_switch")
    assert trading.has_perm("markets.use_kill_switch") and trading.has_perm("orders.view_order")
    assert not trading.has_perm("kyc.view_submission") and not trading.has_perm("wallets.view_withdrawal")
