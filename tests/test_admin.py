import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from jobs import services
from jobs.models import Run
from tests.conftest import user_with_role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model", ["job", "run", "jobversion", "schedulernode", "schedulerlease", "auditevent"]
)
def test_the_admin_lists_each_model(client, model):
    admin = get_user_model().objects.create_superuser("root", password="pw")
    job = services.job_create(
        actor=admin, name="a", kind="task", config={"task": "demo.noop"}, schedule="@daily"
    )
    services.job_run_now(actor=admin, job=job)
    client.force_login(admin)
    response = client.get(reverse(f"admin:jobs_{model}_changelist"))
    assert response.status_code == 200


def test_the_admin_is_read_only(client):
    admin = get_user_model().objects.create_superuser("root", password="pw")
    job = services.job_create(
        actor=admin, name="a", kind="task", config={"task": "demo.noop"}, schedule="@daily"
    )
    run = services.job_run_now(actor=admin, job=job)
    client.force_login(admin)
    response = client.post(reverse("admin:jobs_run_delete", args=[run.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Run.objects.filter(pk=run.pk).exists()


@pytest.mark.parametrize("staff", [False, True])
def test_only_superusers_open_it(client, staff):
    admin_role = user_with_role("Admin", "admin role")
    admin_role.is_staff = staff
    admin_role.save()
    client.force_login(admin_role)
    response = client.get("/admin/auth/user/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert "not authorized" in client.get(response["Location"]).content.decode()
    root = get_user_model().objects.create_superuser("root", password="pw")
    client.force_login(root)
    assert client.get("/admin/auth/user/").status_code == 200
