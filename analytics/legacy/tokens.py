"""Rotation of the session tokens earlier imports derived from data.

Imports before issue 11 gave a legacy row without a token `legacy-` + md5(email | start time
in ms)[:24]; both inputs were public on share links, so anyone could compute the token and
write to the session. Migration analytics 0007 runs this once on every database: each such
session moves to a random token (workshop.services.new_session_token), with its steps, events
and creator record, and the old token is kept as the legacy key -> new token mapping, which
is exactly the key the import derives, so re-running an import still finds the session.
"""

import re

from django.apps import apps as installed_apps
from django.db import transaction

from workshop.services import new_session_token

DERIVED_TOKEN = re.compile(r"^legacy-[0-9a-f]{24}$")


def rotate_derived_tokens(apps=installed_apps) -> int:
    """Move every session with a derived token to a random one; returns how many moved.
    `apps` is the app registry, or a migration's historical one."""
    WorkshopSession = apps.get_model("workshop", "WorkshopSession")
    StepProgress = apps.get_model("progress", "StepProgress")
    StudentCreator = apps.get_model("progress", "StudentCreator")
    Event = apps.get_model("analytics", "Event")
    LegacySessionToken = apps.get_model("analytics", "LegacySessionToken")

    derived = WorkshopSession.objects.filter(session_token__regex=DERIVED_TOKEN.pattern)
    moved = 0
    for old in derived.values_list("session_token", flat=True).iterator():
        with transaction.atomic():
            session = WorkshopSession.objects.select_for_update().get(pk=old)
            new = new_session_token()
            session.pk = new
            session.save(force_insert=True)
            StepProgress.objects.filter(session_id=old).update(session_id=new)
            Event.objects.filter(session_id=old).update(session_id=new)
            StudentCreator.objects.filter(session_id=old).update(session_id=new)
            WorkshopSession.objects.filter(pk=old).delete()
            LegacySessionToken.objects.update_or_create(
                legacy_key=old, defaults={"session_token": new}
            )
        moved += 1
    return moved
