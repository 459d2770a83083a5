"""apps.core.admin_rows renders a large list's rows exactly as Django's `items_for_result` does,
cell for cell, on every LargeTableAdmin list (with its filters preserved in the links, sorted, with
actions, with empty and boolean cells), and falls back to Django where it cannot."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import results
from django.template.loader import get_template
from django.utils import dateformat, timezone
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core import admin_rows
from apps.core.admin import LargeTableAdmin
from apps.wallets.models import Currency, ReconciliationRun, Withdrawal

pytestmark = pytest.mark.django_db

# The lists with rows in the `rows` fixture (and below), and queries that change how they render.
PAGES = [
    "/admin/orders/order/",
    "/admin/orders/order/?status__exact=new",
    "/admin/orders/order/?o=-6.1",
    "/admin/trades/trade/",
    "/admin/wallets/entry/",
    "/admin/wallets/entry/?currency__code__exact=USDT",
    "/admin/wallets/transaction/",
    "/admin/wallets/hold/",
    "/admin/wallets/account/",
    "/admin/wallets/withdrawal/",
    "/admin/wallets/reconciliationrun/",
    "/admin/core/auditevent/",
    "/admin/token_blacklist/outstandingtoken/",
]


@pytest.fixture
def more_rows(rows):
    """A withdrawal (with actions, an empty reviewer, a pending status) and two reconciliation runs
    (a boolean each way, a column computed by the ModelAdmin), and an issued refresh token."""
    buyer = rows["buyer"]
    Withdrawal.objects.create(user=buyer, currency=Currency.objects.get(code="USDT"), address="0xabc<&>",
                              amount=Decimal("12.5"), fee=Decimal("1"), reference_value=Decimal("12.5"))  # fmt: skip
    RefreshToken.for_user(buyer)  # an issued refresh token
    ReconciliationRun.objects.create(ok=True, finished_at=timezone.now())
    ReconciliationRun.objects.create(ok=False, mismatches=[{"check": "x", "subject": "BTC", "detail": "d"}])
    return rows


def cells(rendered) -> list[str]:
    """Each row's HTML (Django's rows are lists of cells, admin_rows' a cell-joined item)."""
    return ["".join(str(cell) for cell in row) for row in rendered]


@pytest.mark.parametrize("page", PAGES)
def test_rows_are_the_html_django_renders(staff_client, more_rows, page):
    response = staff_client.get(page)
    assert response.status_code == 200, page
    cl = response.context["cl"]
    assert isinstance(cl.model_admin, LargeTableAdmin)
    assert cl.result_list, f"{page}: no rows to compare"
    assert admin_rows._columns(cl) is not None, f"{page}: rendered by Django, not by admin_rows"
    assert cells(admin_rows.rows(cl)) == cells(results(cl))
    # And the page shows those rows.
    assert cells(admin_rows.rows(cl))[0] in response.content.decode()


def test_links_keep_the_lists_filters(staff_client, more_rows):
    cl = staff_client.get("/admin/orders/order/?status__exact=new").context["cl"]
    link = cells(admin_rows.rows(cl))[0]
    order = cl.result_list[0]
    assert f'href="/admin/orders/order/{order.pk}/change/?_changelist_filters=status__exact%3Dnew"' in link


def test_values_are_escaped(staff_client, more_rows):
    cl = staff_client.get("/admin/wallets/withdrawal/").context["cl"]
    row = cells(admin_rows.rows(cl))[0]
    assert "0xabc&lt;&amp;&gt;" in row and "0xabc<&>" not in row


def test_django_renders_what_admin_rows_does_not_know(staff_client, more_rows, monkeypatch):
    """A popup (its links call JavaScript) is left to Django whole."""
    response = staff_client.get("/admin/orders/order/?_popup=1")
    cl = response.context["cl"]
    assert admin_rows._columns(cl) is None
    assert cells(admin_rows.rows(cl)) == cells(results(cl))


def test_every_large_list_is_rendered_by_admin_rows():
    large = [model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, LargeTableAdmin)]
    assert len(large) >= 10
    assert all(renders_rows_with_admin_rows(model_admin.change_list_template) for model_admin in large)


def renders_rows_with_admin_rows(template_name: str) -> bool:
    """The large list template, or a model's own that extends it."""
    if template_name == "admin/large_change_list.html":
        return True
    source = get_template(template_name).template.source
    return source.lstrip().startswith('{% extends "admin/large_change_list.html" %}')


@pytest.mark.parametrize("django_format", ["Y-m-d H:i:s", "j.n.Y G:i", r"Y\Ym-d \a\t H:i {s}", "d/m/Y"])
def test_a_numeric_date_format_is_compiled_to_the_same_text(django_format):
    compiled = admin_rows._compiled(django_format)
    assert compiled is not None
    for value in (dt.datetime(2026, 1, 2, 3, 4, 5), dt.datetime(999, 12, 31, 23, 59, 59)):
        assert compiled.format(value) == dateformat.format(value, django_format)


@pytest.mark.parametrize("django_format", ["N j, Y, P", "D d M Y", "c", "Y-m-d H:i:s T"])
def test_other_date_formats_are_left_to_django(django_format):
    assert admin_rows._compiled(django_format) is None


def test_times_are_shown_with_seconds_in_utc(staff_client, more_rows):
    cl = staff_client.get("/admin/orders/order/").context["cl"]
    order = cl.result_list[0]
    shown = order.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f'<td class="field-created_at nowrap">{shown}</td>' in cells(admin_rows.rows(cl))[0]
