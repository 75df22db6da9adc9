"""URL configuration for Heroes."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from heroes.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/heroes/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("heroes.urls")),
]

handler500 = "heroes.errors.server_error"

if settings.DEBUG:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
