"""An authentication backend that reads the user and their permissions in one query.

Django's ModelBackend reads the user on every request, then, the first time the request
checks a permission, the permissions given to the user and those of the user's groups:
three queries on every staff page that shows controls. This backend reads the
permissions with the user, as two subqueries of the same statement, and otherwise is
ModelBackend (the same rules for inactive users and superusers, the same per-request
caches on the user object, so a permission taken away counts from the next request).
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import router
from django.db.models import Aggregate, OuterRef, Subquery, TextField, Value
from django.db.models.functions import Concat

from .bulk import bind

SEPARATOR = "\n"  # not in any app label or codename Django makes


class Joined(Aggregate):
    """A group's strings joined by `separator`: STRING_AGG, or GROUP_CONCAT on SQLite."""

    function = "STRING_AGG"
    output_field = TextField()

    def __init__(self, expression, separator: str, **extra):
        super().__init__(expression, Value(separator), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="GROUP_CONCAT", **extra_context)


def _names(permissions, owner: str) -> Subquery:
    """The "app_label.codename" of `permissions`, grouped by `owner` (the user's id)."""
    name = Concat("content_type__app_label", Value("."), "codename", output_field=TextField())
    grouped = permissions.order_by().values(owner).annotate(names=Joined(name, SEPARATOR))
    return Subquery(grouped.values("names"))


def _split(names: str | None) -> set[str]:
    return set(names.split(SEPARATOR)) if names else set()


USER = -7_340_101  # the sentinel id the user's statement is built with (see bulk.bind)


@functools.cache
def _user_statement(alias: str) -> tuple[str, tuple]:
    """The SQL that reads a user with their permissions, and its parameters.

    Built by the ORM once per database, for a sentinel id: compiling the two subqueries
    costs ten times what running the statement does, so requests run it as a raw query
    with the user's id bound in its place.
    """
    users = get_user_model()._default_manager.annotate(
        _own_permissions=_names(Permission.objects.filter(user=OuterRef("pk")), "user"),
        _group_permissions=_names(
            Permission.objects.filter(group__user=OuterRef("pk")), "group__user"
        ),
    )
    return users.filter(pk=USER).query.get_compiler(alias).as_sql()


class PermissionBackend(ModelBackend):
    def get_user(self, user_id):
        model = get_user_model()
        alias = router.db_for_read(model)
        sql, params = _user_statement(alias)
        found = model._default_manager.db_manager(alias).raw(sql, bind(params, {USER: user_id}))
        user = next(iter(found), None)
        if user is None or not self.user_can_authenticate(user):
            return None
        if not user.is_superuser:  # a superuser's are all of them, read if ever asked
            user._user_perm_cache = _split(user._own_permissions)
            user._group_perm_cache = _split(user._group_permissions)
            user._perm_cache = user._user_perm_cache | user._group_perm_cache
        return user

    def get_all_permissions(self, user_obj, obj=None):
        """ModelBackend's, for a user not read by get_user, in one query instead of two."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                permissions = Permission.objects.all()
            else:
                own = Permission.objects.filter(user=user_obj).order_by().values("pk")
                groups = Permission.objects.filter(group__user=user_obj).order_by().values("pk")
                permissions = Permission.objects.filter(pk__in=own.union(groups, all=True))
            names = permissions.values_list("content_type__app_label", "codename").order_by()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in names}
        return user_obj._perm_cache
