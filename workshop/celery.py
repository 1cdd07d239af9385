"""The Celery app: background work (webhooks, instructor e-mail, scheduled cleanup).

Configured from Django's settings (the CELERY_* names, from the environment). Without
CELERY_BROKER_URL tasks run eagerly in the calling process, so a local run needs no broker.
Run a worker with `celery -A workshop worker` and the scheduler with `celery -A workshop beat`
(Procfile, README "Production").
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workshop.settings")

app = Celery("workshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
