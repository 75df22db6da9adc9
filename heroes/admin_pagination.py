"""Big admin change lists: a paginator that estimates instead of counting, and a mixin."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


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


class BigTableMixin:
    """For ModelAdmins of big tables: lists that never count the whole table, and actions
    that refuse a tampered selection with a message instead of a server error."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

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
