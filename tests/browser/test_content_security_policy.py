"""Every page works under the Content-Security-Policy: nothing it loads or runs is blocked."""

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect

# Injected by the browser itself (not subject to the policy): it records each violation.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__violations")


def test_pages_run_without_policy_violations(page):
    User.objects.create_superuser("root", password="pw-Secret-1")
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(f"{page.base}/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    log_in(page, "root")
    assert violations(page) == []

    # htmx is loaded and working: the schedule preview is an htmx request as one types.
    page.goto(f"{page.base}/jobs/new/")
    page.get_by_label("Schedule", exact=True).fill("*/5 * * * *")
    expect(page.locator("#schedule-preview")).to_contain_text("Every 5 minutes")
    assert violations(page) == []

    for path in ("/", "/jobs/", "/audit/", "/executors/", "/profile/", "/admin/"):
        page.goto(f"{page.base}{path}")
        assert violations(page) == [], path

    page.goto(f"{page.base}/api/v1/docs")
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    assert violations(page) == []
    assert not [text for text in console if "Content Security Policy" in text]

    # The recorder does see a violation: an inline style attribute is refused.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("window.__violations.length > 0")
    assert violations(page)[0].startswith("style-src")
