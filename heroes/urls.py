"""URLs of the staff pages: heroes, teams and the memberships grid."""

app_name = "heroes"

urlpatterns = []
