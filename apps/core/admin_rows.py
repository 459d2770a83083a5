"""The rows of an admin list over a large table, rendered without Django's per-cell overhead.

Django renders every cell of a change list through `items_for_result`: the column looked up by
name, the locale's formats looked up again for every number and date, `format_html` for every
cell and a `reverse()` for every row's link. On a page of 100 rows of 6 to 11 columns that is half
of the page's CPU (65 of 125 ms on the development machine, docs/benchmarks.md "Admin lists").

`large_result_list` (the `admin_rows` template library, used by LargeTableAdmin's change list)
renders the same HTML, deciding how to show a column once per page instead of once per cell: a
model field's choice label, its number in the locale's format with the field's decimal places, its
date and time in the locale's DATETIME_FORMAT and the current time zone, its related object's name;
and every row's link from one reversed URL. Any other column (a method of the ModelAdmin, a
property, the action checkbox) goes through Django's own `items_for_result`, one column at a time,
and a list Django would render differently (editable rows, a popup, a link on such a column) is
rendered by Django whole. A row comes as one item, its cells joined (change_list_results.html
prints a row's items one after another; a template of a model's own that reads single cells
would not work with these lists). `apps/core/tests/test_admin_rows.py` compares the two renderings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin.templatetags.admin_list import (
    ResultList,
    _boolean_icon,
    items_for_result,
    result_headers,
    result_hidden_fields,
    results,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils import dateformat, numberformat
from django.utils.formats import get_format
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

PLACEHOLDER = 9_876_543_210_123  # an id no row has: its place in the reversed change URL


def result_list(cl) -> dict:
    """The context of Django's `result_list` tag (change_list_results.html), with fast rows."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": rows(cl),
    }


def rows(cl) -> list[ResultList]:
    columns = _columns(cl)
    if columns is None:
        return list(results(cl))
    # A row is one item (its cells joined): change_list_results.html prints a row's items one after
    # another, so the page is the same, and the template engine renders 100 items instead of 1,000.
    return [ResultList(None, [mark_safe("".join([column(result) for column in columns]))])  # noqa: S308
            for result in cl.result_list]  # fmt: skip


def _columns(cl) -> list[Callable[[Any], SafeString]] | None:
    """One renderer per column, or None where Django must render the list itself."""
    if cl.formset is not None or cl.is_popup or cl.to_field:
        return None
    links = _links(cl)
    locale = _Locale()
    empty = cl.model_admin.get_empty_value_display()
    columns = []
    first_link = True
    for index, name in enumerate(cl.list_display):
        field = _plain_field(cl, name)
        if name in links:
            if field is None or not isinstance(cl.lookup_opts.pk, models.AutoField):
                return None  # a link on a computed column, or a key that is not a number
            url = _change_url(cl)
            if url is None:
                return None
            tag = "th" if first_link else "td"
            first_link = False
            columns.append(_linked(name, index, field, _formatter(field, empty, locale), tag, url, cl))
        elif field is None:
            columns.append(_by_django(cl, name, links))
        else:
            columns.append(_cell(name, index, field, _formatter(field, empty, locale)))
    return columns


def _links(cl) -> tuple:
    """The columns that link to the row's page, as Django's `link_in_col` decides."""
    if cl.list_display_links is None:
        return ()
    if cl.list_display_links:
        return tuple(cl.list_display_links)
    return tuple(cl.list_display)[:1]


def _plain_field(cl, name) -> models.Field | None:
    """The model field a column shows as itself (no ModelAdmin method or property of that name),
    where this module knows how Django displays it; else None."""
    if not isinstance(name, str) or name == "action_checkbox" or hasattr(cl.model_admin, name):
        return None
    try:
        field = cl.lookup_opts.get_field(name)
    except FieldDoesNotExist:
        return None
    if field.is_relation and not field.many_to_one and not field.one_to_one:
        return None
    if field.is_relation and field.one_to_one and field.auto_created:
        return None  # a reverse one-to-one
    if _kind(field) is None:
        return None
    return field


def _kind(field) -> str | None:
    """How Django's `items_for_result` and `display_for_field` show a field's values."""
    if field.auto_created:
        return "integer" if isinstance(field, models.AutoField) else None
    if field.is_relation:
        return "related"
    if getattr(field, "flatchoices", None):
        try:
            dict(field.flatchoices)
        except TypeError:
            return None
        return "choice"
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, (models.DateField, models.TimeField)):
        return None
    if isinstance(field, models.DecimalField):
        return "decimal"
    if isinstance(field, (models.IntegerField, models.FloatField)):
        return "integer"
    if isinstance(field, (models.FileField, models.URLField, models.JSONField)):
        return None
    if isinstance(field, (models.CharField, models.TextField, models.UUIDField, models.GenericIPAddressField)):
        return "text"
    return None


class _Locale:
    """The active language's formats, looked up once per page instead of once per cell."""

    def __init__(self):
        self.decimal_separator = get_format("DECIMAL_SEPARATOR")
        self.grouping = get_format("NUMBER_GROUPING")
        self.thousand_separator = get_format("THOUSAND_SEPARATOR")
        self.datetime_format = get_format("DATETIME_FORMAT")
        self.compiled_datetime = _compiled(self.datetime_format)
        self.icons: dict = {}

    def number(self, value, decimal_places=None) -> str:
        return numberformat.format(value, self.decimal_separator, decimal_places, self.grouping,
                                   self.thousand_separator, use_l10n=True)  # fmt: skip

    def datetime(self, value) -> str:
        value = template_localtime(value)
        if self.compiled_datetime is not None:
            return self.compiled_datetime.format(value)
        return dateformat.format(value, self.datetime_format)

    def icon(self, value) -> SafeString:
        if value not in self.icons:
            self.icons[value] = _boolean_icon(value)
        return self.icons[value]


# Django's date format characters that are plain numbers, as str.format fields (dateformat.DateFormat).
NUMERIC = {"Y": "{0.year:04d}", "m": "{0.month:02d}", "d": "{0.day:02d}", "H": "{0.hour:02d}", "i": "{0.minute:02d}",
           "s": "{0.second:02d}", "j": "{0.day}", "n": "{0.month}", "G": "{0.hour}"}  # fmt: skip


def _compiled(django_format: str) -> str | None:
    """A Django date format made of NUMERIC characters and literal text ("Y-m-d H:i:s", the
    project's: exchange/formats) as a str.format string that gives the same text; else None."""
    parts = []
    for i, piece in enumerate(dateformat.re_formatchars.split(django_format)):
        if i % 2:
            if piece not in NUMERIC:
                return None
            parts.append(NUMERIC[piece])
        else:
            parts.append(dateformat.re_escaped.sub(r"\1", piece).replace("{", "{{").replace("}", "}}"))
    return "".join(parts)


def _formatter(field, empty: str, locale: _Locale) -> Callable[[Any], Any]:
    """value -> what Django's `display_for_field` (or `display_for_value` for the key) shows."""
    kind = _kind(field)
    name = field.name
    if kind == "related":

        def related(result):  # the object itself: escaped as str(object)
            try:
                value = getattr(result, name)
            except ObjectDoesNotExist:
                return empty
            return empty if value is None else value

        return related
    attname = field.attname

    def value_of(result):
        value = getattr(result, attname)
        return "" if isinstance(value, str) and not value.strip() else value

    if kind == "choice":
        labels = dict(field.flatchoices)
        return lambda result: labels.get(value_of(result), empty)
    if kind == "boolean":
        return lambda result: locale.icon(value_of(result))
    blank = field.empty_values

    def shown(show):
        def format_value(result):
            value = value_of(result)
            return empty if value in blank else show(value)

        return format_value

    if kind == "datetime":
        return shown(locale.datetime)
    if kind == "decimal":
        places = field.decimal_places
        return shown(lambda value: locale.number(value, places))
    if kind == "integer":
        return shown(lambda value: str(value) if isinstance(value, bool) else locale.number(value))
    return shown(str)


def _classes(name: str, index: int, field) -> str:
    classes = [f"field-{name}"]
    if isinstance(field, (models.DateField, models.TimeField, models.ForeignKey)):
        classes.append("nowrap")
    return format_html(' class="{}"', " ".join(classes))


def _cell(name, index, field, format_value) -> Callable[[Any], SafeString]:
    classes = _classes(name, index, field)

    def render(result):
        # What format_html does, without its per-call overhead: every part is escaped or already safe.
        return mark_safe(f"<td{classes}>{conditional_escape(format_value(result))}</td>")  # noqa: S308

    return render


def _linked(name, index, field, format_value, tag: str, url: str, cl) -> Callable[[Any], SafeString]:
    classes = _classes(name, index, field)
    before, after = (conditional_escape(part) for part in url.split(str(PLACEHOLDER), 1))
    pk = cl.lookup_opts.pk.attname

    def render(result):
        text = conditional_escape(format_value(result))
        # The id is an integer (AutoField: checked in _columns); the URL's parts and the text are escaped.
        return mark_safe(f'<{tag}{classes}><a href="{before}{int(getattr(result, pk))}{after}">{text}</a></{tag}>')  # noqa: S308

    return render


def _change_url(cl) -> str | None:
    """A row's change URL with PLACEHOLDER for its id, the list's filters preserved (as Django's
    `url_for_result` and `add_preserved_filters` build it for every row)."""

    class Row:
        pass

    row = Row()
    setattr(row, cl.pk_attname, PLACEHOLDER)
    try:
        url = cl.url_for_result(row)
    except (NoReverseMatch, ObjectDoesNotExist):
        return None
    url = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url)
    return url if url.count(str(PLACEHOLDER)) == 1 else None


class _OneColumn:
    """A change list that shows one of its columns: Django's `items_for_result` renders that cell."""

    def __init__(self, cl, name, links: tuple):
        self._cl = cl
        self.list_display = (name,)
        self.list_display_links = links or None

    def __getattr__(self, attribute):
        return getattr(self._cl, attribute)


def _by_django(cl, name, links: tuple) -> Callable[[Any], SafeString]:
    one = _OneColumn(cl, name, links)
    return lambda result: next(items_for_result(one, result, None))
