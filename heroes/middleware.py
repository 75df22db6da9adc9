"""Attribute every change made while serving a request to its user and interface."""

from django.urls import reverse

from . import history
from .models import ChangeSet


class AttributionMiddleware:
    """Changes made in the admin are from "admin", the others from the staff "page"s."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = None

    def __call__(self, request):
        if self.admin_prefix is None:
            self.admin_prefix = reverse("admin:index")
        admin = request.path.startswith(self.admin_prefix)
        source = ChangeSet.Source.ADMIN if admin else ChangeSet.Source.PAGE
        # request.user stays lazy: it is only looked at if a change is recorded.
        with history.attributed(user=getattr(request, "user", None), source=source):
            return self.get_response(request)
