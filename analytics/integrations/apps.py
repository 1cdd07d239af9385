from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Work that leaves the request: the outbox, signed webhooks, instructor e-mail."""

    name = "analytics.integrations"
    label = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"
