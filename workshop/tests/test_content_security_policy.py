"""Every page carries the Content-Security-Policy, with no inline script or style allowed
(the browser test analytics/tests/test_browser_csp.py shows the pages work under it)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def directives(header: str) -> set[str]:
    return {part.strip() for part in header.split(";")}


@pytest.mark.parametrize(
    "path", ["/admin/login/", "/admin/", "/dashboard/", "/dashboard/funnel/", "/api/docs/"]
)
def test_pages_carry_the_policy(client, instructor, path):
    if path != "/admin/login/":
        client.force_login(instructor)

    response = client.get(path)

    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"]) == directives(POLICY)


def test_swagger_ui_loads_its_start_up_script_as_a_file(client):
    page = client.get(reverse("docs")).content.decode()

    assert "<script>" not in page
    assert "<style>" not in page
    script = client.get(reverse("docs"), {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_dashboard_templates_have_no_inline_handlers_or_styles(client, instructor):
    client.force_login(instructor)
    for name in ("overview", "funnel", "stuck", "students"):
        text = client.get(reverse(f"dashboard:{name}")).content.decode()
        assert " style=" not in text
        assert " onchange=" not in text
        assert "<script>" not in text
