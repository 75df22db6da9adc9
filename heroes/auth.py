"""An authentication backend that reads a user's permissions in one query instead of two.

Django's ModelBackend reads the permissions given to the user and those of the user's
groups in two queries, the first time a request checks one. Every staff page that shows
controls checks some, so each of those pages paid both; this backend asks once, for the
union, and otherwise is ModelBackend (the same rules for inactive users and superusers,
the same per-request cache on the user object).
"""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission


class PermissionBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
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
