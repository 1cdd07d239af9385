"""A date filter out of range on any dashboard page is a 400 page that keeps the form."""

import pytest
from django.urls import reverse

from workshop.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, instructor):
    client.force_login(instructor)
    return client


def pages(student_id) -> list[str]:
    return [
        reverse("dashboard:overview"),
        reverse("dashboard:funnel"),
        reverse("dashboard:funnel-step", args=[2, "completed"]),
        reverse("dashboard:stuck"),
        reverse("dashboard:students"),
        reverse("dashboard:student", args=[student_id]),
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"end": "9999-12-31"}, "end"),
        ({"start": "0001-01-01"}, "start"),
        ({"start": "9999-12-31", "end": "9999-12-31"}, "start"),
    ],
)
def test_a_date_out_of_range_is_a_400_page_that_keeps_the_form(staff, query, field):
    student = StudentFactory()
    for url in pages(student.student_id):
        response = staff.get(url, query)

        assert response.status_code == 400, url
        text = response.content.decode()
        assert 'id="filters"' in text, url
        assert f'name="{field}" value="{query[field]}"' in text, url
        assert "Enter a date from 2000-01-01 to 2100-12-31." in text, url


@pytest.mark.parametrize("name", ["overview-live", "funnel-csv", "stuck-csv", "students-csv"])
def test_fragments_and_exports_refuse_a_far_date_with_400(staff, name):
    assert staff.get(reverse(f"dashboard:{name}"), {"end": "9999-12-31"}).status_code == 400
