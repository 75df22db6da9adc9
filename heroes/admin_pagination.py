"""Big admin change lists: a paginator that estimates instead of counting and seeks deep
pages through the primary key's index, a change list whose "next page" link carries a
keyset cursor, and a mixin for the ModelAdmins of big tables."""

import contextlib

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, OrderBy, Subquery
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

# Stands for the primary key in a change URL resolved once per page.
PK_MARKER = "__pk__"
# The query parameter of the keyset cursor: the primary key of the previous page's last row.
CURSOR_VAR = "after"


def pk_order(queryset) -> str | None:
    """The ordering ("pk" or "-pk") when `queryset` is ordered by its primary key alone."""
    order_by = queryset.query.order_by
    if len(order_by) != 1 or queryset.query.extra_order_by:
        return None
    (field,) = order_by
    if isinstance(field, str):
        descending, name = field.startswith("-"), field.removeprefix("-")
    elif isinstance(field, OrderBy) and isinstance(field.expression, F):
        descending, name = field.descending, field.expression.name
    else:
        return None
    pk = queryset.model._meta.pk
    if name not in {"pk", pk.name, pk.attname}:
        return None
    return "-pk" if descending else "pk"


class EstimatedCountPaginator(Paginator):
    """Count exactly up to `exact_limit` rows; past that, estimate instead of COUNT(*).

    Always one query: a COUNT over at most `exact_limit + 1` rows of the list, and, when
    the list is unfiltered, the table's size estimate (PostgreSQL's planner statistics,
    `reltuples`; on SQLite, MAX of the primary key, an upper bound when rows were
    deleted). Beyond the limit `count` is the estimate with `count_is_estimate` set, or,
    for a filtered list, `exact_limit + 1` with `count_is_lower_bound` set, so that
    templates can say "about 1,000,000" or "more than 10,000" rather than a wrong number.
    """

    exact_limit = 10_000

    count_is_estimate = False
    count_is_lower_bound = False
    # The primary key the page starts after (a keyset cursor), when the request gave one.
    after = None

    @cached_property
    def count(self):
        queryset = self.object_list
        connection = connections[queryset.db]
        capped = queryset.order_by().values("pk")[: self.exact_limit + 1]
        capped_sql, params = capped.query.get_compiler(connection=connection).as_sql()
        estimate, estimate_params = "NULL", ()
        if not queryset.query.where:
            opts = queryset.model._meta
            qn = connection.ops.quote_name
            if connection.vendor == "postgresql":
                estimate = "(SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass)"
                estimate_params = (qn(opts.db_table),)
            elif connection.vendor == "sqlite":
                estimate = f"(SELECT MAX({qn(opts.pk.column)}) FROM {qn(opts.db_table)})"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(
                # Identifiers come from the model's options; values are parameters.
                f"SELECT COUNT(*), {estimate} FROM ({capped_sql}) capped",  # noqa: S608
                (*estimate_params, *params),
            )
            exact, estimated = cursor.fetchone()
        if exact <= self.exact_limit:
            return exact
        if estimated is not None and estimated > exact:
            self.count_is_estimate = True
            return int(estimated)
        self.count_is_lower_bound = True
        return exact

    @property
    def count_limit(self):
        """The largest number counted exactly."""
        return self.exact_limit

    def page(self, number):
        """The page; when the list is ordered by primary key, found through its index.

        Django slices with OFFSET, which reads and throws away every row before the page
        (with its joins): page 5,000 of 100 rows reads 500,000 of them. Ordered by the
        primary key, a page after a cursor is `WHERE pk > cursor` and any other page
        starts at `pk >= (SELECT pk ... ORDER BY pk LIMIT 1 OFFSET n)`, which walks the
        primary key's index only; either way the page is the same rows, in one query.
        """
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        order = pk_order(self.object_list)
        if order is None or (bottom == 0 and self.after is None):
            return super().page(number)
        ascending = order == "pk"
        if self.after is not None:
            lookup, start = ("pk__gt" if ascending else "pk__lt"), self.after
        else:
            lookup = "pk__gte" if ascending else "pk__lte"
            start = Subquery(self.object_list.order_by(order).values("pk")[bottom : bottom + 1])
        rows = self.object_list.filter(**{lookup: start})[: self.per_page]
        return self._get_page(rows, number, self)


class BigTableChangeList(ChangeList):
    """A change list whose "next page" link carries a keyset cursor (`?p=N&after=<pk>`),
    and whose rows link to their change page (with the list's filters, as Django's do)
    without resolving a URL each.

    With the cursor the next page is an index range scan however deep it is; without it
    (a page typed in, or any other page link), the paginator seeks through the index.
    The cursor is not a filter: every other link of the page leaves it out.
    """

    def get_queryset(self, request, exclude_parameters=None):
        for params in (self.params, self.filter_params):
            params.pop(CURSOR_VAR, None)
        # Django adds the list's filters to each row's link with add_preserved_filters,
        # which resolves the link's URL for every cell (200 times on a page of a search or
        # past the first); url_for_result adds them instead, and Django sees none.
        if self.preserved_filters:
            self.row_filters, self.preserved_filters = self.preserved_filters, ""
        return super().get_queryset(request, exclude_parameters)

    def get_query_string(self, new_params=None, remove=None):
        cursor = self.next_cursor() if new_params else None
        if cursor is not None and new_params.get(PAGE_VAR) == self.page_num + 1:
            new_params = {**new_params, CURSOR_VAR: cursor}
        return super().get_query_string(new_params, remove)

    @cached_property
    def _change_url(self) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(PK_MARKER,),
            current_app=self.model_admin.admin_site.name,
        )

    row_filters = ""

    def url_for_result(self, result):
        # Django resolves the URL for every linked cell; it differs only by the key.
        url = self._change_url.replace(PK_MARKER, str(quote(getattr(result, self.pk_attname))))
        return f"{url}?{self.row_filters}" if self.row_filters else url

    def next_cursor(self):
        """The last primary key of this page, when the next page can start after it."""
        results = getattr(self, "result_list", None)
        if results is None or pk_order(self.queryset) is None:
            return None
        rows = list(results)
        if len(rows) < self.list_per_page:
            return None
        return rows[-1].pk


class BigTableMixin:
    """For ModelAdmins of big tables: lists that never count the whole table, and actions
    that refuse a tampered selection with a message instead of a server error."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return BigTableChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(
            request, queryset, per_page, orphans, allow_empty_first_page
        )
        cursor = request.GET.get(CURSOR_VAR)
        if cursor is not None:
            # A tampered cursor is ignored: the page is then found by its number.
            with contextlib.suppress(ValidationError):
                paginator.after = self.opts.pk.clean(cursor, None)
        return paginator

    def action_checkbox(self, obj):
        # Django renders a CheckboxInput widget through the template engine for each row,
        # a sixth of a 100-row page's time; this is the same HTML, formatted directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def changelist_view(self, request, extra_context=None):
        # Without any action allowed, Django would silently show the list again.
        if request.method == "POST" and "action" in request.POST and not self.get_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def response_action(self, request, queryset):
        # Django filters pk__in=<posted ids>; a non-numeric or out-of-range id would
        # raise there (a 500), so refuse the selection with a message instead.
        pk = self.opts.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.clean(value, None)
        except ValidationError:
            self.message_user(
                request,
                "The selection is not valid. No items have been changed.",
                messages.ERROR,
            )
            return None
        return super().response_action(request, queryset)
