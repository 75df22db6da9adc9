"""local_staff: make sure a staff login exists for local development, and print it."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"
PASSWORD = "heroes-local"  # noqa: S105 - only ever set with DEBUG on


class Command(BaseCommand):
    help = (
        "Create (or reset) the local superuser admin / heroes-local and print the login. "
        "Refuses to run unless DEBUG is on: production has no default password."
    )

    def handle(self, **options):
        if not settings.DEBUG:
            raise CommandError(
                "local_staff only runs with DJANGO_DEBUG=1; in production use createsuperuser."
            )
        user, created = get_user_model().objects.get_or_create(username=USERNAME)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(PASSWORD)
        user.save()
        self.stdout.write(
            f"{'Created' if created else 'Reset'} local staff login: {USERNAME} / {PASSWORD}"
        )
