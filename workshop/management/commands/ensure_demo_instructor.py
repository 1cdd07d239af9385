"""manage.py ensure_demo_instructor: a staff login for a local first run (`make run`)."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create or reset the local demo instructor (a staff user) with a fresh random "
        "password, and print the login. Refuses to run unless DJANGO_DEBUG is on."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="instructor", help="Login name (instructor).")

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo accounts are for local runs only (set DJANGO_DEBUG=true).")
        # A new password every run: nothing guessable ever sits in the repo or the database.
        password = secrets.token_urlsafe(12)
        user, created = get_user_model().objects.get_or_create(
            username=options["username"], defaults={"email": "instructor@example.com"}
        )
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        verb = "Created" if created else "Reset"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} the demo instructor. Log in at /admin/ or /dashboard/ as "
                f"{user.username} / {password}"
            )
        )
