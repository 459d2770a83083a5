"""The admin's lists over tables without bound (issue 23, item 3): no COUNT(*) over the table, a
bounded number of queries, pages and filters that work, exact-id searches.

LargeTablePaginator is tested with a small cap (the behaviour above 10,000 rows, without 10,000 rows).
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.admin import ApproximateCount, LargeTablePaginator
from apps.core.models import AuditEvent
from apps.core.tests.conftest import events
from apps.wallets.models import Account, Entry

pytestmark = pytest.mark.django_db

LISTS = {
    "orders": ("/admin/orders/order/", "orders_order"),
    "trades": ("/admin/trades/trade/", "trades_trade"),
    "ledger entries": ("/admin/wallets/entry/", "wallets_entry"),
    "ledger transactions": ("/admin/wallets/transaction/", "wallets_transaction"),
    "ledger accounts": ("/admin/wallets/account/", "wallets_account"),
    "holds": ("/admin/wallets/hold/", "wallets_hold"),
    "deposits": ("/admin/wallets/deposit/", "wallets_deposit"),
    "withdrawals": ("/admin/wallets/withdrawal/", "wallets_withdrawal"),
    "custody transfers": ("/admin/wallets/custodytransfer/", "wallets_custodytransfer"),
    "reconciliation runs": ("/admin/wallets/reconciliationrun/", "wallets_reconciliationrun"),
    "audit events": ("/admin/core/auditevent/", "core_auditevent"),
    "KYC submissions": ("/admin/kyc/submission/", "kyc_submission"),
    "portfolio snapshots": ("/admin/portfolio/snapshot/", "portfolio_snapshot"),
    "portfolio positions": ("/admin/portfolio/position/", "portfolio_position"),
    "refresh tokens": ("/admin/token_blacklist/outstandingtoken/", "token_blacklist_outstandingtoken"),
}


class SmallCap(LargeTablePaginator):
    cap = 5


def bare_counts(queries, table: str) -> list[str]:
    """COUNT(*) statements straight over `table` (not over a capped subquery)."""
    pattern = re.compile(rf'SELECT COUNT\(\*\)( AS "__count")? FROM "{table}"', re.IGNORECASE)
    return [q["sql"] for q in queries if pattern.search(q["sql"])]


# --- the paginator ---------------------------------------------------------------------------


def test_an_exact_count_up_to_the_cap():
    events(5)
    paginator = SmallCap(AuditEvent.objects.order_by("-id"), 2)
    assert paginator.count == 5 and not isinstance(paginator.count, ApproximateCount)
    assert paginator.num_pages == 3
    assert [e.target_id for e in paginator.page(3).object_list] == ["0"]


def test_a_filtered_list_past_the_cap_says_more_than_the_cap():
    events(12)
    paginator = SmallCap(AuditEvent.objects.filter(target_type="t").order_by("-id"), 2)
    with CaptureQueriesContext(connection) as queries:
        count = paginator.count
    assert isinstance(count, ApproximateCount) and count == 6 and str(count) == "more than 5"
    assert count.__html__() == "more than 5"
    assert len(queries) == 1 and "LIMIT 6" in queries[0]["sql"] and not bare_counts(queries, "core_auditevent")
    assert paginator.num_pages == 3  # pages up to the cap's
    assert len(paginator.page(3).object_list) == 2
    with pytest.raises(Exception, match="contains no results"):
        paginator.page(4)


def test_an_unfiltered_list_past_the_cap_is_estimated_from_the_planners_statistics():
    events(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_auditevent")  # what autovacuum keeps current
    paginator = SmallCap(AuditEvent.objects.order_by("-id"), 10)
    with CaptureQueriesContext(connection) as queries:
        count = paginator.count
    assert isinstance(count, ApproximateCount) and count == 30 and str(count) == "about 30"
    assert not bare_counts(queries, "core_auditevent")
    assert paginator.num_pages == 3
    assert [e.target_id for e in paginator.page(3).object_list][-1] == "0"  # the last page reachable


def test_without_statistics_an_unfiltered_list_says_more_than_the_cap():
    events(8)  # never analyzed in this transaction: reltuples is -1 or stale
    paginator = SmallCap(AuditEvent.objects.order_by("-id"), 2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'core_auditevent'::regclass")
        stale = cursor.fetchone()[0] <= 5
    if stale:
        assert str(paginator.count) == "more than 5" and paginator.num_pages == 3


def test_a_later_page_reads_its_ids_first_then_its_rows_in_the_same_order():
    events(7)
    queryset = AuditEvent.objects.select_related("actor").order_by("-id")
    with CaptureQueriesContext(connection) as queries:
        page = list(SmallCap(queryset, 3).page(2).object_list)
    assert [e.pk for e in page] == [e.pk for e in queryset[3:6]]
    offsets = [q["sql"] for q in queries if "OFFSET" in q["sql"]]
    assert len(offsets) == 1 and "JOIN" not in offsets[0], offsets  # the skipped rows are not joined
    assert any("IN (" in q["sql"] and "JOIN" in q["sql"] for q in queries)
    with CaptureQueriesContext(connection) as queries:
        assert len(SmallCap(queryset, 3).page(1).object_list) == 3
    assert not [q for q in queries if "OFFSET" in q["sql"]]


def test_estimates_are_rounded_to_two_figures():
    from apps.core.admin import _rounded

    assert [_rounded(n) for n in (7, 98, 1234, 1_049_876)] == [7, 98, 1200, 1_000_000]


# --- the lists, through the admin ------------------------------------------------------------


@pytest.mark.parametrize("name", list(LISTS))
def test_a_large_list_renders_without_counting_its_table(staff_client, rows, name, django_assert_max_num_queries):
    url, table = LISTS[name]
    for query in ("", "?q=1", "?p=2"):
        with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(14):
            response = staff_client.get(url + query)
        assert response.status_code in (200, 302), (url + query, response.status_code)
        assert not bare_counts(queries, table), (url + query, bare_counts(queries, table))


def test_the_order_list_pages_newest_first_and_its_filters_work(staff_client, rows):
    orders = rows["orders"]
    page = staff_client.get("/admin/orders/order/").context["cl"]
    assert [o.pk for o in page.result_list] == sorted((o.pk for o in orders), reverse=True)
    assert page.full_result_count is None and page.result_count == 6
    market_id = orders[0].market_id
    open_here = staff_client.get(f"/admin/orders/order/?market__id__exact={market_id}&status__exact=new")
    assert open_here.context["cl"].result_count == 6
    cancelled = staff_client.get("/admin/orders/order/?status__exact=cancelled").context["cl"]
    assert cancelled.result_count == 0
    found = staff_client.get(f"/admin/orders/order/?q={orders[2].pk}").context["cl"]
    assert [o.pk for o in found.result_list] == [orders[2].pk]
    assert staff_client.get("/admin/orders/order/?q=BTC").context["cl"].result_count == 0  # no text search
    by_name = staff_client.get(f"/admin/orders/order/?q={rows['seller'].username.upper()}").context["cl"]
    assert sorted(o.pk for o in by_name.result_list) == sorted(o.pk for o in orders[3:])
    mine = staff_client.get(f"/admin/orders/order/?user={rows['buyer'].pk}").context["cl"]
    assert sorted(o.pk for o in mine.result_list) == sorted(o.pk for o in orders[:3])


def test_the_order_list_filters_have_an_index_led_by_their_column_and_newest_first(staff_client, rows):
    """Each filter of the order list is served by an index whose first column is the filter's and whose
    second is the id, descending (the list's order): page 1 of a filtered list is an index range scan,
    whatever the table holds. Read from the catalogue, not from a plan (a tiny test table's plan is the
    planner's whim)."""
    from django.contrib import admin

    from apps.orders.models import Order

    filters = [f if isinstance(f, str) else f[0] for f in admin.site._registry[Order].list_filter]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a1.attname, a2.attname, (i.indoption[1] & 1) = 1 FROM pg_index i "
            "JOIN pg_attribute a1 ON a1.attrelid = i.indrelid AND a1.attnum = i.indkey[0] "
            "JOIN pg_attribute a2 ON a2.attrelid = i.indrelid AND a2.attnum = i.indkey[1] "
            "WHERE i.indrelid = 'orders_order'::regclass AND i.indnatts >= 2 AND i.indpred IS NULL"
        )
        led = {(first, second, descending) for first, second, descending in cursor.fetchall()}
    for name in filters:
        column = Order._meta.get_field(name).column
        assert (column, "id", True) in led, (name, led)


def test_the_trade_list_finds_an_orders_fills_and_filters_by_market(staff_client, rows):
    orders = rows["orders"]
    fills = staff_client.get(f"/admin/trades/trade/?q={orders[4].pk}").context["cl"]
    assert [t.sell_order_id for t in fills.result_list] == [orders[4].pk]
    by_market = staff_client.get(f"/admin/trades/trade/?market__id__exact={orders[0].market_id}").context["cl"]
    assert by_market.result_count == 2


def test_the_entry_list_filters_by_system_account_and_finds_a_transactions_entries(staff_client, rows):
    hot = Account.objects.get(kind="hot", currency_id="USDT")
    response = staff_client.get("/admin/wallets/entry/")
    assert "USDT Hot wallet" in response.content.decode()
    listed = staff_client.get(f"/admin/wallets/entry/?account={hot.pk}").context["cl"]
    assert {e.account_id for e in listed.result_list} == {hot.pk} and listed.result_count == 1
    entry = Entry.objects.filter(account=hot).get()
    found = staff_client.get(f"/admin/wallets/entry/?q={entry.transaction_id}").context["cl"]
    assert {e.transaction_id for e in found.result_list} == {entry.transaction_id}
    assert staff_client.get("/admin/wallets/entry/?account=x").context["cl"].result_count == 0


def test_pages_of_a_long_list_and_an_out_of_range_page(staff_client, rows):
    events(250)  # and those of the fixtures: three pages of 100
    total = AuditEvent.objects.count()
    last = staff_client.get("/admin/core/auditevent/?p=3").context["cl"]
    assert len(last.result_list) == total - 200 and last.result_count == total
    assert 'href="?p=3"' in staff_client.get("/admin/core/auditevent/").content.decode()
    response = staff_client.get("/admin/core/auditevent/?p=99")
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_the_list_says_its_count_is_not_exact(staff_client, rows, monkeypatch):
    monkeypatch.setattr(LargeTablePaginator, "cap", 5)
    events(300)
    filtered = staff_client.get("/admin/core/auditevent/?target_type__exact=t")
    assert filtered.status_code == 200 and "more than 5" in filtered.content.decode()
    assert 'href="?p=2&amp;target_type__exact=t"' not in filtered.content.decode()  # a page of 100 > the cap's 6
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_auditevent")
    unfiltered = staff_client.get("/admin/core/auditevent/").content.decode()
    assert re.search(r"about 3[01]\d", unfiltered), unfiltered[unfiltered.find("paginator") - 200 :][:600]
    assert 'href="?p=3"' in unfiltered  # every page of the estimate
