"""Treasury staff in Chromium, against the real web server, PostgreSQL and Redis (issue 26): on a fresh
stack the reconciliation page has no run and still offers "Run a reconciliation now"; pressing it
lists a run and says what it found; the dashboard's button does the same and comes back. Then a
drill: the simulated chain's faults set on a currency from the list's action, shown on its page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.site.tests.admin_fixtures import staff
from apps.wallets.models import ReconciliationRun
from tests import factories
from tests.browser.test_admin_layout import log_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)


@pytest.fixture
def treasury_page(browser, web_server):
    factories.currency("BTC", confirmations=2)
    factories.currency("USDT")
    context = browser.new_context(base_url=web_server.base_url, viewport={"width": 1280, "height": 900})
    errors = []
    page = log_in(context, staff("treasury", "treasury-drill"))
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    yield page
    context.close()
    assert errors == []


def test_a_fresh_stack_offers_the_button_and_pressing_it_lists_a_run(treasury_page):
    page = treasury_page
    assert ReconciliationRun.objects.count() == 0
    page.goto("/admin/wallets/reconciliationrun/")
    expect(page.locator("#reconciliation-status")).to_contain_text("No reconciliation has run yet")
    page.click("#run-reconciliation")
    page.wait_for_url("**/admin/wallets/reconciliationrun/")
    run = ReconciliationRun.objects.get()
    expect(page.locator("ul.messagelist")).to_contain_text(f"Reconciliation #{run.pk}: everything matched.")
    expect(page.locator("#last-run")).to_contain_text(f"#{run.pk}, admin, finished")
    expect(page.locator("#last-run")).to_contain_text("everything matched")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    # From the dashboard: a second run, and back on the dashboard with it.
    page.goto("/admin/")
    page.click("#dashboard-run-reconciliation")
    page.wait_for_url("**/admin/")
    expect(page.locator("#dashboard-treasury")).to_contain_text("matched")
    assert ReconciliationRun.objects.count() == 2


def test_staff_set_a_chain_fault_from_the_currencies_list_and_see_it_on_the_currency(treasury_page):
    page = treasury_page
    page.goto("/admin/wallets/currency/")
    page.check("input[name=_selected_action][value=BTC]")
    page.select_option("select[name=action]", "set_chain_faults")
    page.click("button[name=index]")
    page.check("#id_refuse_sends")
    page.fill("#id_reason", "drill: node refuses sends")
    page.click("input[name=apply]")
    expect(page.locator("ul.messagelist")).to_contain_text("BTC: simulated chain faults now refuses sends")
    page.goto("/admin/wallets/currency/BTC/change/")
    expect(page.locator(".field-simulated_chain_faults")).to_contain_text("ACTIVE: refuses sends")
    expect(page.locator(".field-simulated_chain_faults")).to_contain_text("treasury-drill")
    page.goto("/admin/")
    expect(page.locator("#dashboard-hot-wallets")).to_contain_text("simulated faults: refuses sends")
