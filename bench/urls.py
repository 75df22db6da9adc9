"""URLs of the load benchmark's server: the whole site, plus the floors under /bench/floor/.

Selected only by `bench/load.py`, for its own gunicorn (DJANGO_ROOT_URLCONF=bench.urls).
"""

from django.urls import include, path

from . import floor

urlpatterns = [
    path("bench/floor/heroes/", floor.hero_list),
    path("bench/floor/heroes/<int:pk>/", floor.hero_detail),
    path("bench/floor/heroes/<int:pk>/memberships/", floor.membership),
    path("bench/floor/teams/<int:pk>/", floor.team_detail),
    path("bench/floor/memberships/", floor.membership_grid),
    path("bench/floor/memberships/toggle/", floor.membership),
    path("", include("heroes_site.urls")),
]

handler500 = "heroes.errors.server_error"
