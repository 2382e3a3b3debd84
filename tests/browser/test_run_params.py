"""“Run now…” in a real browser, with a real scheduler: one run with other parameters."""

import pytest
from django.contrib.auth.models import Group, User

from jobs import services
from jobs.models import Job, Run
from tests.browser.conftest import log_in, shoot
from tests.conftest import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def scheduler(start_scheduler, settings, tmp_path):
    # The scheduler writes run output where this web process reads it.
    settings.CRONADMIN_OUTPUT_DIR = str(tmp_path / "output")
    return start_scheduler()


def test_an_operator_runs_a_task_once_with_another_message(page, scheduler):
    user = User.objects.create_user("olga", password="pw-Secret-1")
    user.groups.add(Group.objects.get_or_create(name="Operator")[0])
    job = services.job_create(
        actor=None,
        name="Greeter",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hello"}},
        schedule="@manual",
    )

    log_in(page, "olga")
    page.goto(f"{page.base}/jobs/{job.pk}/")
    page.get_by_role("link", name="Run now…").click()
    page.wait_for_url(f"{page.base}/jobs/{job.pk}/run/params/")
    message = page.get_by_label("Message")
    # The form starts from the job's own values.
    expect(message).to_have_value("hello")
    shoot(page, "run-params")

    # A required parameter left empty is refused at the field, and nothing runs.
    message.fill("")
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#run-params-form .error")).to_contain_text("required")
    assert not Run.objects.exists()

    message.fill("just this once")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(f"{page.base}/runs/**")
    run = Run.objects.get()
    expect(page.locator("#run-params")).to_contain_text("just this once")
    wait_for(lambda: Run.objects.get(pk=run.pk).state == Run.State.SUCCEEDED, timeout=30)
    page.reload()
    # The task printed the message it was given for this run.
    expect(page.locator("pre.output")).to_contain_text("just this once")
    assert Run.objects.get(pk=run.pk).params == {"message": "just this once"}
    # The job's definition is unchanged.
    assert Job.objects.get(pk=job.pk).config["params"] == {"message": "hello"}
    assert Job.objects.get(pk=job.pk).version == 1
