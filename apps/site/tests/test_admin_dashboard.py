"""The admin index per role (apps.site.admin_site): the dashboard's figures against seeded rows, what
each role sees and does not, every link resolving, the navigation's sections, and a query bound."""

from __future__ import annotations

import datetime as dt
import re
import time
from html import unescape

import pytest
from django.utils import timezone

from apps.site import navigation
from apps.site.tests.admin_fixtures import admin_client, markets, staff, submission, wallets

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.KYC_REVIEW_TARGET_HOURS = 24
    now = timezone.now()
    carol = staff("compliance", "carol-reviewer")
    other = staff("compliance", "other-reviewer")
    rows = {
        "old": submission(age=dt.timedelta(hours=30)),
        "new": submission(age=dt.timedelta(hours=2)),
        "mine": submission("in_review", age=dt.timedelta(minutes=10), reviewer=carol),
        "theirs": submission("in_review", age=dt.timedelta(hours=5), reviewer=other),
        "decided": submission("approved", age=dt.timedelta(days=3), reviewer=other, decided_at=now),
    }
    return {"carol": carol, "submissions": rows, **wallets(now), **markets()}


def index(client) -> str:
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def links(html: str) -> list[str]:
    return sorted({unescape(href) for href in re.findall(r'href="(/admin/[^"]*)"', html)})


def section_names(html: str) -> list[str]:
    return re.findall(r'class="section"[^>]*>([^<]+)</a>', html)


def test_compliance_sees_the_queue_and_no_treasury_or_trading(seeded):
    html = index(admin_client(seeded["carol"]))
    assert 'id="dashboard-compliance"' in html
    assert 'id="dashboard-treasury"' not in html and 'id="dashboard-trading"' not in html
    assert "Withdrawals awaiting review" not in html and "Kill switch" not in html
    start = html.index('id="dashboard-compliance"')
    compliance = html[start : html.index("</svg>", start)]
    figures = dict(re.findall(r'<th scope="row">([^<]+)</th><td><a class="figure" href="[^"]*">(\d+)</a>', compliance))
    # Open: old, new (pending), mine, theirs (in review); the approved case is not open.
    assert figures == {"Open KYC cases": "4", "Claimed by me": "1", "Decisions today": "1"}
    assert "(2 pending)" in compliance
    old = seeded["submissions"]["old"]
    assert f"/admin/kyc/submission/{old.pk}/change/" in compliance and "over target" in compliance
    assert "<svg" in compliance and "&gt; 3 days: 0" in compliance and "1-3 days: 1" in compliance
    assert section_names(html) == ["Compliance", "Audit"]
    assert "/admin/wallets/" not in html and "/admin/markets/" not in html


def test_treasury_sees_wallets_and_no_kyc(seeded):
    dave = staff("treasury", "dave-treasury")
    html = index(admin_client(dave))
    assert 'id="dashboard-treasury"' in html
    assert 'id="dashboard-compliance"' not in html and 'id="dashboard-trading"' not in html
    assert "/admin/kyc/" not in html and "KYC" not in html
    assert re.search(r'href="/admin/wallets/withdrawal/\?status__exact=review">2</a>', html)
    assert re.search(r'direction__exact=refill&amp;status__exact=requested">1</a> 4 BTC', html)
    hot = html[html.index('id="dashboard-hot-wallets"') :]
    assert ">3</a>" in hot and "(1 to 10, within)" in hot  # 3 BTC in the band 1-10
    assert "hot 0.5" in hot  # the latest run: ledger hot 3, chain 2.5
    assert "mismatch" in html
    assert html.count('class="dashboard-chart"') == 2  # BTC and USDT over the last day (ETH: no run)
    assert "no reconciliation run in the last day" in html
    assert section_names(html) == ["Treasury"]


def test_trading_operations_sees_markets_and_the_kill_switch(seeded):
    erin = staff("trading", "erin-trading")
    html = index(admin_client(erin))
    assert 'id="dashboard-trading"' in html
    assert 'id="dashboard-compliance"' not in html and 'id="dashboard-treasury"' not in html
    assert "/admin/kyc/" not in html and "/admin/wallets/" not in html
    assert 'href="/admin/markets/market/kill-switch/"' in html
    assert re.search(r'status__exact=halted">1</a> ETH-USDT \(listing review\)', html)
    btc = seeded["btc_usdt"]
    assert f'/admin/orders/order/?market__id__exact={btc.pk}">2 waiting</a>' in html
    assert f"/admin/trades/trade/?market__id__exact={btc.pk}" in html
    assert section_names(html) == ["Trading"]


def test_superuser_sees_every_panel_and_section(seeded):
    html = index(admin_client(staff("superuser")))
    for panel in ("compliance", "treasury", "trading"):
        assert f'id="dashboard-{panel}"' in html
    assert section_names(html) == ["Compliance", "Treasury", "Trading", "Users and access", "Audit"]
    assert "Exchange administration" in html and "Django administration" not in html
    for name in ("API keys", "Deposit addresses", "Withdrawal addresses", "Authenticator apps (TOTP)",
                 "Issued refresh tokens", "Revoked refresh tokens", "Backup codes"):  # fmt: skip
        assert f">{name}<" in html
    assert "addresss" not in html and "OTP_" not in html and "Api keys" not in html


@pytest.mark.parametrize("role", ["superuser", "compliance", "treasury", "trading"])
def test_every_link_of_the_index_resolves(seeded, role):
    client = admin_client(seeded["carol"] if role == "compliance" else staff(role))
    hrefs = [h for h in links(index(client)) if not h.startswith("/admin/logout")]
    assert len(hrefs) > 5
    for href in hrefs:
        response = client.get(href)
        assert response.status_code == 200, (href, response.status_code)


def test_the_dashboard_queries_are_bounded(seeded, django_assert_max_num_queries):
    """15 queries for a superuser (measured), none over orders, trades or ledger entries: the page's
    cost does not grow with the tables that hold millions of rows."""
    client = admin_client(staff("superuser"))
    client.get("/admin/")  # warm-up: content types, the registry
    with django_assert_max_num_queries(20) as captured:
        started = time.perf_counter()
        client.get("/admin/")
        elapsed = time.perf_counter() - started
    tables = ("orders_order", "trades_trade", "wallets_entry", "wallets_transaction")
    assert not [q["sql"] for q in captured.captured_queries if any(f'"{t}"' in q["sql"] for t in tables)]
    assert elapsed < 2.0  # a loose bound for a shared CI machine (about 25 ms measured)


def test_sections_group_models_by_role_and_rename_third_party_ones():
    model = {"object_name": "TOTPDevice", "name": "TOTP devices", "admin_url": "/admin/otp_totp/totpdevice/"}
    stray = {"object_name": "Thing", "name": "Things", "admin_url": "/admin/wallets/thing/"}
    result = navigation.sections({"otp_totp": {"models": [model]}, "wallets": {"models": [stray]}})
    assert [(s["name"], [m["name"] for m in s["models"]]) for s in result] == [
        ("Users and access", ["Authenticator apps (TOTP)"]),
        ("Other", ["Things"]),
    ]
    assert [s["app_url"] for s in result] == ["/admin/otp_totp/", "/admin/wallets/"]


@pytest.mark.parametrize(
    ("app_page", "section", "lists"),
    [
        ("/admin/orders/", "Trading", ["/admin/markets/market/", "/admin/orders/order/", "/admin/trades/trade/"]),
        ("/admin/markets/", "Trading", ["/admin/portfolio/snapshot/"]),
        ("/admin/wallets/", "Treasury", ["/admin/wallets/withdrawal/", "/admin/wallets/entry/"]),
        ("/admin/otp_totp/", "Users and access", ["/admin/accounts/user/", "/admin/auth/group/"]),
        ("/admin/auth/", "Users and access", ["/admin/otp_static/staticdevice/"]),
        ("/admin/core/", "Audit", ["/admin/core/auditevent/"]),
        ("/admin/kyc/", "Compliance", ["/admin/kyc/submission/"]),
    ],
)
def test_an_apps_page_is_its_section(seeded, app_page, section, lists):
    """The breadcrumbs' middle link (/admin/<app>/) shows the app's section, under its name."""
    html = admin_client(staff("superuser")).get(app_page).content.decode()
    assert f"<title>{section} administration" in html
    assert section_names(html).count(section) == 1
    for href in lists:
        assert f'href="{href}"' in html


def test_breadcrumbs_name_the_section_not_the_package(seeded):
    client = admin_client(staff("superuser"))
    for path, section in (("/admin/orders/order/", "Trading"), ("/admin/otp_totp/totpdevice/", "Users and access"),
                          ("/admin/token_blacklist/outstandingtoken/", "Users and access"),
                          ("/admin/wallets/withdrawal/", "Treasury")):  # fmt: skip
        html = client.get(path).content.decode()
        breadcrumbs = html.split('class="breadcrumbs"', 1)[1].split("</div>", 1)[0]
        assert f">{section}</a>" in breadcrumbs, (path, breadcrumbs)
        assert "OTP_" not in breadcrumbs and "Token Blacklist" not in breadcrumbs


def test_a_role_cannot_open_another_roles_section(seeded):
    client = admin_client(seeded["carol"])  # compliance: KYC cases and the audit log
    assert client.get("/admin/kyc/").status_code == 200 and client.get("/admin/core/").status_code == 200
    for page in ("/admin/wallets/", "/admin/orders/", "/admin/markets/", "/admin/accounts/", "/admin/auth/"):
        assert client.get(page).status_code == 404, page
