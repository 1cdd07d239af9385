"""The notification settings page in Chromium, on a phone and on a desktop (see
analytics/tests/test_browser.py for how the browser is found and why it may be skipped)."""

import pytest

from analytics.integrations.models import NotificationPreference
from analytics.integrations.views import SAVED
from analytics.tests.test_browser import browser, log_in, page, shoot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1440, 900)])
def test_an_instructor_switches_notifications_on_phone_and_desktop(
    page,  # noqa: F811
    live_server,
    instructor,
    width,
    height,
):
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, live_server, "/dashboard/notifications/")
    assert page.locator("h1").inner_text() == "Your e-mail notifications"
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.uncheck("#id_stuck_student")
    page.click("form.settings button[type=submit]")
    page.wait_for_selector(f"text={SAVED}")
    shoot(page, f"notifications-{width}")
    preference = NotificationPreference.objects.get(user=instructor)
    assert (preference.bug_report, preference.stuck_student, preference.run_summary) == (
        True,
        False,
        True,
    )
    assert not page.is_checked("#id_stuck_student")
