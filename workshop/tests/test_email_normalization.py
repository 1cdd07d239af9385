"""One rule for comparing emails: trimmed, Unicode NFC, lower case, the domain in its IDNA
Unicode form, so every spelling of one address is one student (issue 11)."""

import pytest
from rest_framework.test import APIClient

from workshop.models import Student, normalize_email

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        ("bob@exämple.com", "bob@exämple.com"),
        ("bob@xn--exmple-cua.com", "bob@exämple.com"),
        ("bob@XN--EXMPLE-CUA.COM", "bob@exämple.com"),
        ("bob@EXÄMPLE.com", "bob@exämple.com"),
        # A decomposed ä (a + combining diaeresis) is the same letter.
        ("bob@exa\u0308mple.com", "bob@exämple.com"),
        ("Jose\u0301@example.com", "josé@example.com"),
        # Not a valid IDNA domain: still trimmed, NFC and lower case, never an error.
        ("x@xn--.com", "x@xn--.com"),
        ("x@" + "a" * 70 + ".com", "x@" + "a" * 70 + ".com"),
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "spellings",
    [
        ["bob@exämple.com", "bob@xn--exmple-cua.com"],
        ["ada@bücher.example", "ADA@bu\u0308cher.EXAMPLE", "ada@xn--bcher-kva.example"],
    ],
)
def test_every_spelling_of_an_address_is_one_student(spellings):
    api = APIClient()
    for email in spellings:
        response = api.post("/api/sessions", {"studentEmail": email}, format="json")
        assert response.status_code == 201, response.content

    assert Student.objects.count() == 1
    assert Student.objects.get().student_email == normalize_email(spellings[0])
