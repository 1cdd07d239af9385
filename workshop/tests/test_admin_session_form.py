"""The admin's session change form never overwrites what students and the API write, and
saves sessions with the default empty JSON (issue 11)."""

import pytest
from django.contrib.admin.utils import quote
from django.forms import MultiWidget
from django.urls import reverse
from rest_framework.test import APIClient

from workshop.models import WorkshopSession
from workshop.tests.factories import WorkshopSessionFactory

pytestmark = pytest.mark.django_db

API_WRITTEN = [
    "system_prompt",
    "tools",
    "voice_settings",
    "bug_reports",
    "github_repo_url",
    "last_activity",
]


def form_data(response) -> dict:
    """What the browser would post back: every field of the form and its inlines as shown."""
    data = {}
    forms = [response.context["adminform"].form]
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms += list(formset.formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            widget = form.fields[name].widget
            if isinstance(widget, MultiWidget):
                # Date and time as two inputs (name_0, name_1), as the admin renders them.
                parts = value if isinstance(value, list) else widget.decompress(value)
                for index, (sub, part) in enumerate(zip(widget.widgets, parts, strict=True)):
                    data[f"{form.add_prefix(name)}_{index}"] = sub.format_value(part) or ""
                continue
            data[form.add_prefix(name)] = widget.format_value(value) or value
    return data


def test_api_written_fields_are_read_only_on_the_change_form(admin_client):
    session = WorkshopSessionFactory()
    response = admin_client.get(
        reverse("admin:workshop_workshopsession_change", args=[quote(session.pk)])
    )

    form = response.context["adminform"].form
    assert [name for name in API_WRITTEN if name in form.fields] == []
    assert {"is_active", "demo_mode", "expires_at"} <= set(form.fields)


def test_a_save_keeps_what_the_api_wrote_while_the_form_was_open(admin_client):
    api_client = APIClient()
    session = WorkshopSessionFactory(
        system_prompt="old", bug_reports=[], tools=[], voice_settings={}
    )
    url = reverse("admin:workshop_workshopsession_change", args=[quote(session.pk)])
    data = form_data(admin_client.get(url))

    # While the instructor edits, the student reports a bug and changes the prompt.
    api_client.post(
        f"/api/sessions/{session.pk}/bug-reports", {"description": "mic dead"}, format="json"
    )
    api_client.patch(f"/api/sessions/{session.pk}", {"systemPrompt": "new"}, format="json")
    data["demo_mode"] = "true"  # a nullable boolean: a yes/no/unknown select
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    session = WorkshopSession.objects.get(pk=session.pk)
    assert session.demo_mode is True
    assert session.system_prompt == "new"
    assert [r["description"] for r in session.bug_reports] == ["mic dead"]


def test_a_session_with_empty_json_defaults_saves(admin_client):
    session = WorkshopSessionFactory(tools=[], voice_settings={}, bug_reports=[])
    url = reverse("admin:workshop_workshopsession_change", args=[quote(session.pk)])

    response = admin_client.post(url, form_data(admin_client.get(url)))

    assert response.status_code == 302


def test_a_session_added_in_the_admin_may_keep_empty_json(admin_client, django_user_model):
    from workshop.tests.factories import StudentFactory

    student = StudentFactory()
    url = reverse("admin:workshop_workshopsession_add")
    data = form_data(admin_client.get(url))
    data.update({"session_token": "ws_added_in_admin", "student": str(student.pk)})
    for name in ("started_at", "last_activity", "expires_at"):
        data.update({f"{name}_0": "2026-11-29", f"{name}_1": "10:00:00"})

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    session = WorkshopSession.objects.get(pk="ws_added_in_admin")
    assert (session.tools, session.voice_settings, session.bug_reports) == ([], {}, [])
