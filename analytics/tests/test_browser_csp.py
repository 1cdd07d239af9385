"""Every page works under the Content-Security-Policy: no violation reaches the console while
the admin, each dashboard (with its auto-submit and live refresh) and Swagger UI are used."""

import pytest
from playwright.sync_api import expect

from analytics.tests.test_browser import browser, log_in, page, seed_workshop  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch_violations(page) -> list[str]:  # noqa: F811
    """Console errors and securitypolicyviolation events, collected as they happen."""
    seen: list[str] = []
    page.on(
        "console",
        lambda m: seen.append(f"{m.text} @ {m.location.get('url')}") if m.type == "error" else None,
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return seen


def test_pages_raise_no_csp_violation(page, live_server, instructor):  # noqa: F811
    seed_workshop()
    seen = watch_violations(page)
    response = page.goto(f"{live_server.url}/admin/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    log_in(page, live_server, next_path="/dashboard/?refresh=1")
    page.wait_for_selector("#live svg.bar")
    stamp = page.locator("#last-refreshed").get_attribute("datetime")
    # The live refresh swapped the fragment in (its bars included).
    expect(page.locator("#last-refreshed")).not_to_have_attribute("datetime", stamp or "")
    for path in ("/dashboard/funnel/", "/dashboard/students/"):
        page.goto(f"{live_server.url}{path}")
    # The threshold select submits its form on change, with no inline handler.
    page.goto(f"{live_server.url}/dashboard/stuck/")
    page.select_option("#threshold", "15m")
    page.wait_for_url("**/dashboard/stuck/?*threshold=15m*")
    page.click("text=Ken Thompson")
    page.wait_for_url("**/dashboard/students/*/")

    instructor.is_superuser = True
    instructor.save()
    for path in ("/admin/", "/admin/workshop/workshopsession/", "/admin/auth/user/add/"):
        page.goto(f"{live_server.url}{path}")
    page.goto(f"{live_server.url}/admin/workshop/workshopsession/")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector("#content-main form")

    # Swagger UI renders the operations and can expand one.
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() >= 6
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body")

    # Browsers ask for /favicon.ico on their own; there is none, and that 404 is no violation.
    seen = [line for line in seen if "/favicon.ico" not in line]
    assert seen == [], "\n".join(seen)
