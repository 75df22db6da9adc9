"""URLs of the staff pages: heroes, teams, the memberships grid and the history of changes."""

from django.urls import path

from . import views

app_name = "heroes"

urlpatterns = [
    path("heroes/", views.hero_list, name="hero_list"),
    path("heroes/<int:pk>/", views.hero_detail, name="hero_detail"),
    path("heroes/<int:pk>/team/", views.hero_assign_team, name="hero_assign_team"),
    path("heroes/<int:pk>/team/clear/", views.hero_clear_team, name="hero_clear_team"),
    path("heroes/<int:pk>/memberships/", views.hero_membership, name="hero_membership"),
    path("heroes/<int:pk>/training/", views.hero_training, name="hero_training"),
    path("teams/", views.team_list, name="team_list"),
    path("teams/<int:pk>/", views.team_detail, name="team_detail"),
    path("memberships/", views.membership_grid, name="membership_grid"),
    path("memberships/toggle/", views.membership_toggle, name="membership_toggle"),
    path("changes/", views.change_list, name="change_list"),
    path("changes/<int:pk>/", views.change_detail, name="change_detail"),
    path("changes/<int:pk>/revert/", views.change_revert, name="change_revert"),
]
