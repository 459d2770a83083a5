"""The admin at 1,280 px (issue 23, item 4): no page scrolls sideways, the KYC case's document
previews included, and the dashboard's charts render. Chromium against the real web server."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from PIL import Image

from apps.accounts.tests.conftest import totp_code
from apps.kyc import services as kyc_services
from apps.site.tests.admin_fixtures import staff
from apps.trades.models import Trade
from tests import factories
from tests.factories import PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
WIDTH = 1280


def picture(size) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 210, 220)).save(buffer, "JPEG")
    return SimpleUploadedFile("document.jpg", buffer.getvalue(), content_type="image/jpeg")


def log_in(context, user):
    """The admin's login with a TOTP code (django-otp's form asks for the device once it knows the user)."""
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.select_option("select[name=otp_device]", device.persistent_id)
    page.fill("#id_password", PASSWORD)
    page.fill("input[name=otp_token]", totp_code(device))
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page


@pytest.mark.parametrize("role", ["compliance", "treasury", "trading"])
def test_each_roles_dashboard_fits_at_1280_px(browser, web_server, market, artifacts, role):
    context = browser.new_context(base_url=web_server.base_url, viewport={"width": WIDTH, "height": 900})
    try:
        page = log_in(context, staff(role, f"layout-{role}"))
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.reload()
        assert page.locator(f"#dashboard-{role}").count() == 1
        assert page.locator("#dashboard .module").count() == 1  # its own panel only
        page.screenshot(path=str(artifacts / f"admin-dashboard-{role}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        assert errors == []
    finally:
        context.close()


def test_no_admin_page_scrolls_sideways_at_1280_px(browser, web_server, market, artifacts, settings):
    admin = factories.user(username="layout-admin", is_staff=True, is_superuser=True)
    # A phone camera's picture, far wider than the page, and a long unbroken hash beside it.
    case = kyc_services.submit(
        user=factories.user(username="layout-applicant"),
        data={"full_name": "Layout Case", "date_of_birth": dt.date(1990, 5, 17), "country": "NL",
              "document_type": "passport", "document_number": "L1"},
        files={"document_front": picture((4000, 3000)), "selfie": picture((3000, 4000))},
    )  # fmt: skip
    # A row in the lists of trading: orders (resting and filled), a trade, their holds and entries.
    buyer, seller = factories.funded_trader(usdt="1000"), factories.funded_trader(btc="1")
    bid = factories.place(buyer, side="buy", type="limit", price="100.00", quantity="0.5000")
    ask = factories.place(seller, side="sell", type="limit", price="200.00", quantity="0.2500")
    Trade.objects.create(market=market, price=Decimal(150), quantity=Decimal("0.01"), quote_quantity=Decimal("1.5"),
                         taker_side="buy", buy_order=bid, sell_order=ask, buyer=buyer, seller=seller,
                         buyer_fee=Decimal(0), seller_fee=Decimal(0), created_at=timezone.now())  # fmt: skip
    context = browser.new_context(base_url=web_server.base_url, viewport={"width": WIDTH, "height": 900})
    errors = []
    try:
        page = log_in(context, admin)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.reload()
        assert page.locator("#dashboard svg.dashboard-chart").count() >= 1
        page.screenshot(path=str(artifacts / "admin-dashboard-superuser.png"), full_page=True)
        # The index, every section's page and list, and from each list its first row's page and its
        # add form: every kind of admin page there is.
        lists = sorted(set(page.eval_on_selector_all("#content-main a.section, #content-main th a",
                                                     "links => links.map(a => a.getAttribute('href'))")))  # fmt: skip
        wide, seen = [], set()

        def measure(path):
            if path in seen:
                return
            seen.add(path)
            page.goto(path)
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > WIDTH:
                wide.append((path, width))

        more = []
        for path in ["/admin/", f"/admin/kyc/submission/{case.pk}/change/", *lists]:
            measure(path)
            if path in lists:
                more += page.eval_on_selector_all("#result_list tbody tr:first-child th a, a.addlink",
                                                  "links => links.map(a => a.getAttribute('href'))")  # fmt: skip
        for path in more:
            measure(path)
        # The index, 5 sections, 25 lists, 13 rows' pages (the other lists are empty here), 7 add forms.
        assert len(seen) >= 50, sorted(seen)
        page.goto(f"/admin/kyc/submission/{case.pk}/change/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts / "admin-kyc-case-1280.png"), full_page=True)
        thumbnails = page.eval_on_selector_all(".kyc-preview img", "imgs => imgs.map(i => [i.naturalWidth, i.width])")
        assert len(thumbnails) == 2 and all(natural > 0 and shown <= 220 for natural, shown in thumbnails)
    finally:
        context.close()
        for document in case.documents.all():
            document.file.delete(save=False)
    assert wide == [], f"pages wider than {WIDTH} px: {wide}"
    assert errors == []
