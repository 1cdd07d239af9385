"""The frontend's feedback on the dashboards, in a real Chromium, on a phone and a desktop."""

import json
import urllib.request

import pytest

from analytics.tests.test_browser import (  # the browser module's fixture and helpers
    SCREENSHOTS,
    TIMEOUT_MS,
    browser,  # noqa: F401 (a fixture)
    log_in,
    pytestmark,  # noqa: F401 (browser mark, skipped without Chromium)
)
from progress.tests import frontend_requests as fe

VIEWPORTS = {"phone": (390, 844), "desktop": (1440, 900)}


def send(live_server, path: str, body: dict) -> None:
    request = urllib.request.Request(
        f"{live_server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_feedback_fits_the_overview_and_the_funnel(browser, live_server, instructor, viewport):  # noqa: F811
    for index, rating in ((6, 4), (6, 5), (2, 2)):
        send(live_server, "/api/submit-feedback", fe.submit_feedback(index, rating=rating))
    send(live_server, "/api/report-bug", fe.report_bug(None, 3))
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, live_server)

    panel = page.locator(".feedback-panel")
    assert "3.7 ★ from 3 ratings" in panel.locator("h2").inner_text()
    assert panel.locator("tbody tr").count() == 4
    box = panel.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"overview-feedback-{viewport}.png"), full_page=True)

    page.goto(f"{live_server.url}/dashboard/funnel/")
    assert page.locator("tr[data-step='7'] [data-rating]").inner_text().startswith("4.5 ★")
    page.screenshot(path=str(SCREENSHOTS / f"funnel-ratings-{viewport}.png"), full_page=True)
    context.close()
