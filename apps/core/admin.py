"""The admin's shared pieces: read-only lists, and lists over tables that grow without bound.

A list over millions of rows (orders, trades, ledger entries, the audit log...) must not count
them: Django's admin runs `SELECT COUNT(*)` for the page links and again for the total, seconds
each on such a table. `LargeTableAdmin` shows no total (`show_full_result_count = False`), pages
with `LargeTablePaginator` (an estimate, or a count capped at CAP rows: below), orders by the
primary key (page 1 is an index scan), shows no facet counts, and searches by exact ids only
(Django's `=id` search is `UPPER(id::text) = ...`, a scan of the whole table). Its rows are
rendered by `apps.core.admin_rows`, the same HTML as Django's at a fraction of the CPU.
"""

from __future__ import annotations

from functools import cached_property

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.db.models.functions import Lower
from django.template.response import TemplateResponse
from django.utils.formats import number_format

from apps.core.models import AuditEvent

CAP = 10_000  # rows counted at most; above it a list says "more than 10,000"


class ApproximateCount(int):
    """A row count that is not exact: an int for the admin's arithmetic (page links, "show all"),
    printed as what it is ("more than 10,000", "about 1,200,000") wherever a template shows it."""

    def __new__(cls, value: int, text: str):
        count = super().__new__(cls, value)
        count.text = text
        return count

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:  # the admin's templates print it through conditional_escape
        return self.text


class LargeTablePaginator(Paginator):
    """Page links without counting the table.

    Filtered or searched: COUNT(*) over at most CAP + 1 rows (`SELECT count(*) FROM (... LIMIT
    10001)`), exact up to CAP, else "more than 10,000" (and pages up to the 101st). Unfiltered:
    the same capped count, and past CAP the planner's estimate of the table's rows
    (pg_class.reltuples, kept by autovacuum's ANALYZE): "about 1,000,000", and every page reachable.
    """

    cap = CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        capped = queryset.order_by()[: self.cap + 1].count()
        if capped <= self.cap:
            return capped
        estimate = self._estimate(queryset) if not queryset.query.where else None
        if estimate is not None and estimate > self.cap:
            return ApproximateCount(estimate, f"about {number_format(_rounded(estimate), force_grouping=True)}")
        return ApproximateCount(self.cap + 1, f"more than {number_format(self.cap, force_grouping=True)}")

    def page(self, number):
        """A page past the first in two steps: the ids of its rows (`SELECT id ... OFFSET n LIMIT
        100`, which walks only the index the list's order uses), then those rows with their joins
        (`WHERE id IN (...)`, in the same order). One query would join every row it skips: the
        user and the market of 9,900 orders before page 100's."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        queryset = self.object_list
        if bottom == 0 or not hasattr(queryset, "values_list"):
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        return self._get_page(queryset.filter(pk__in=ids), number, self)

    @staticmethod
    def _estimate(queryset) -> int | None:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [queryset.model._meta.db_table])  # fmt: skip
            row = cursor.fetchone()
        return row[0] if row and row[0] > 0 else None


def _rounded(n: int) -> int:
    """An estimate to two significant figures: it is not exact, so it does not look exact."""
    digits = len(str(n))
    step = 10 ** max(digits - 2, 0)
    return round(n / step) * step


class LargeTableAdmin(admin.ModelAdmin):
    """The list options of a table that grows without bound. Subclasses keep to indexed filters
    (`list_filter` on columns with an index leading on them, or on small related tables) and search
    only by exact values of indexed columns: a number is looked up in `id_search_fields` (integer
    columns), any term in `exact_search_fields` (text columns, compared exactly: Django's `=field`
    is a case-insensitive comparison no index serves) and as a username in `user_search_fields`
    (foreign keys to the user, each with an index leading on it; the username is matched without
    regard to case through the users' unique index on lower(username))."""

    paginator = LargeTablePaginator
    change_list_template = "admin/large_change_list.html"  # rows by apps.core.admin_rows
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are COUNTs over the filtered table
    ordering = ("-id",)
    list_per_page = 100
    id_search_fields: tuple[str, ...] = ()
    exact_search_fields: tuple[str, ...] = ()
    user_search_fields: tuple[str, ...] = ()

    def get_search_fields(self, request):
        # Django shows the search box only when there are search fields; ours are searched below.
        searched = self.id_search_fields or self.exact_search_fields or self.user_search_fields
        return ("pk",) if searched else ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(pk__in=[])
        number = term.removeprefix("#")
        if number.isdigit() and int(number) < 2**63:
            for field in self.id_search_fields:
                condition |= Q(**{field: int(number)})
        for field in self.exact_search_fields:
            condition |= Q(**{field: term})
        if self.user_search_fields:
            users = get_user_model().objects.annotate(name=Lower("username")).filter(name=term.lower()).values("pk")
            for field in self.user_search_fields:
                condition |= Q(**{f"{field}__in": users})
        return queryset.filter(condition), False


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """For records only their own code writes (the audit log, orders, trades): the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    """Read-only: the log is append-only (the database refuses updates and deletes). Newest first;
    an object's history through its (target_type, target_id) index; no date drill-down (its year
    and month links group the whole table)."""

    list_display = ("id", "created_at", "actor", "action", "target_type", "target_id", "reason")
    list_filter = ("target_type",)
    list_select_related = ("actor",)
    id_search_fields = ("id",)
    user_search_fields = ("actor",)
    search_help_text = "An event's id, or a username (what they did)."


def action_form_page(model_admin, request, *, template: str, title: str, action: str, form, **extra):
    """The page an admin action shows to ask for more (a reason, an amount) before it applies: the
    selection and the action are posted back with the form (`apply` marks the second post)."""
    context = {
        **model_admin.admin_site.each_context(request), "title": title, "form": form, "action": action,
        "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across") == "1",
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME, "opts": model_admin.model._meta, **extra,
    }  # fmt: skip
    return TemplateResponse(request, template, context)
