from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _install_db_functions(sender, using: str, **kwargs) -> None:
    # After every migrate, so the database always runs this code's version of the functions.
    from progress import db_functions

    db_functions.install(connections[using])


class ProgressConfig(AppConfig):
    name = "progress"
    verbose_name = "Progress"

    def ready(self) -> None:
        post_migrate.connect(_install_db_functions, sender=self)
