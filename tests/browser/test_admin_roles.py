"""What each staff role may see and do in the admin (issue 23, item 5): Chromium logs in through the
admin's OTP login form as each role against the real web server, PostgreSQL and Redis, and tries
what that role may and may not do. Actions that move money keep their permission checks and the
four-eyes rule; a refused action changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from apps.site.tests.admin_fixtures import staff
from apps.wallets import custody
from apps.wallets.models import CustodyTransfer
from tests import factories
from tests.browser.test_admin_layout import log_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)

SECTIONS = {
    "compliance": {"Compliance", "Audit"},
    "treasury": {"Treasury"},
    "trading": {"Trading"},
}
# A list of each role's own, and what it must not reach.
OWN_LIST = {
    "compliance": "/admin/kyc/submission/",
    "treasury": "/admin/wallets/custodytransfer/",
    "trading": "/admin/markets/market/",
}
KILL_SWITCH = "/admin/markets/market/kill-switch/"


@pytest.fixture
def session(browser, web_server):
    """Opens a logged-in admin page per user, each in a context of its own (a separate browser), and
    fails the test on any JavaScript error."""
    contexts, errors = [], []

    def open_as(user):
        context = browser.new_context(base_url=web_server.base_url, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = log_in(context, user)
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.on("console", lambda m: m.type == "error" and "status of 403" not in m.text and errors.append(m.text))
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert errors == [], "JavaScript errors:\n" + "\n".join(errors)


def sections_of(page) -> set[str]:
    page.goto("/admin/")
    captions = page.locator("#content-main div.module > table > caption a.section")
    return {text.strip() for text in captions.all_text_contents()}  # as written (the style upper-cases it)


def status_of(page, path: str) -> int:
    return page.goto(path).status


@pytest.mark.parametrize("role", ["compliance", "treasury", "trading"])
def test_each_role_sees_its_own_sections_and_reaches_only_its_own_lists(session, market, role, artifacts):
    page = session(staff(role, f"roles-{role}"))
    assert sections_of(page) == SECTIONS[role]
    assert page.locator(f"#dashboard-{role}").count() == 1
    page.screenshot(path=str(artifacts / f"admin-roles-{role}.png"), full_page=True)
    for other, path in OWN_LIST.items():
        assert status_of(page, path) == (200 if other == role else 403), (role, path)
    # The kill switch halts every market and every withdrawal: trading operations only.
    assert status_of(page, KILL_SWITCH) == (200 if role == "trading" else 403)


def test_compliance_sees_no_treasury_action(session, market):
    page = session(staff("compliance", "roles-carol"))
    page.goto("/admin/")
    expect(page.locator("#content-main")).not_to_contain_text("Custody transfers")
    expect(page.locator("#content-main")).not_to_contain_text("Withdrawals")
    page.goto("/admin/kyc/submission/")
    actions = page.locator("select[name=action] option").all_inner_texts()
    assert not any("refill" in a.lower() or "withdraw" in a.lower() for a in actions), actions


def approve_in_list(page, transfer: CustodyTransfer) -> None:
    page.goto("/admin/wallets/custodytransfer/")
    page.check(f"input[name=_selected_action][value='{transfer.pk}']")
    page.select_option("select[name=action]", "approve_refill")
    page.click("button[name=index]")


def test_a_refill_needs_a_second_treasurer_and_a_refused_approval_changes_nothing(session, market):
    requester, second = staff("treasury", "roles-dave"), staff("treasury", "roles-dana")
    btc = factories.currency("BTC")
    transfer = custody.request_refill_if_needed(currency=btc, requested_by=requester, amount=Decimal("1"))

    own = session(requester)
    approve_in_list(own, transfer)
    expect(own.locator("ul.messagelist .error")).to_contain_text(
        "A refill is approved by someone other than its requester."
    )
    transfer.refresh_from_db()
    assert (transfer.status, transfer.approved_by_id) == (CustodyTransfer.Status.REQUESTED, None)

    other = session(second)
    approve_in_list(other, transfer)
    expect(other.locator("ul.messagelist .success")).to_contain_text("Approved: 1.")
    transfer.refresh_from_db()
    assert (transfer.status, transfer.approved_by_id) == (CustodyTransfer.Status.APPROVED, second.pk)

    # Already approved: a second approval (a stale page) is refused with a message and changes nothing.
    approve_in_list(own, transfer)
    expect(own.locator("ul.messagelist .error")).to_contain_text("Only requested refills can be approved.")
    transfer.refresh_from_db()
    assert transfer.approved_by_id == second.pk
