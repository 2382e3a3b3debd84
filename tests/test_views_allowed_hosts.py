import pytest

from jobs import services
from jobs.models import AllowedHost, AuditEvent
from tests.conftest import user_with_role
from tests.test_views_base import HX, logged_in, login_redirect

pytestmark = pytest.mark.django_db
URL = "/settings/allowed-hosts/"


def delete_url(entry: AllowedHost) -> str:
    return f"/settings/allowed-hosts/{entry.pk}/delete/"


@pytest.fixture
def admin():
    return user_with_role("Admin")


@pytest.fixture
def entry(admin) -> AllowedHost:
    return services.allowed_host_create(actor=admin, host="10.20.0.0/16", note="tools <portal>")


class TestList:
    def test_it_works(self, admin, entry, settings):
        settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["billing.internal"]
        response = logged_in(admin).get(URL)
        page = response.content.decode()
        assert response.status_code == 200
        assert "10.20.0.0/16" in page and "tools &lt;portal&gt;" in page
        assert "billing.internal" in page and "CRONADMIN_HTTP_ALLOWED_HOSTS" in page
        assert 'href="/settings/allowed-hosts/"' in page  # in the menu, for admins

    def test_the_menu_link_is_for_admins_only(self):
        page = logged_in(user_with_role("Editor")).get("/").content.decode()
        assert "/settings/allowed-hosts/" not in page

    def test_it_requires_login(self, client):
        assert login_redirect(client.get(URL))

    @pytest.mark.parametrize("role", [None, "Viewer", "Operator", "Editor"])
    def test_it_checks_role(self, role):
        assert logged_in(user_with_role(role)).get(URL).status_code == 403

    def test_it_rejects_wrong_method(self, admin):
        assert logged_in(admin).put(URL).status_code == 405


class TestCreate:
    @pytest.mark.parametrize("hx", [True, False])
    def test_it_works(self, admin, hx):
        data = {"host": "Portal.Internal", "note": "the internal tools portal"}
        response = logged_in(admin).post(URL, data, headers=HX if hx else {})
        entry = AllowedHost.objects.get()
        assert (entry.host, entry.note, entry.created_by) == (
            "portal.internal",
            "the internal tools portal",
            admin,
        )
        event = AuditEvent.objects.get(object_type="allowed_host")
        assert (event.action, event.actor, event.object_repr) == ("create", admin, entry.host)
        if hx:
            assert response.status_code == 200
            assert response.templates[0].name == "jobs/_allowed_hosts.html"
            assert "portal.internal may now be called." in response.content.decode()
        else:
            assert response.status_code == 302 and response["Location"] == URL

    @pytest.mark.parametrize("hx", [True, False])
    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"host": "10.0.0.0/4", "note": "everything"}, "host"),
            ({"host": "169.254.169.254", "note": "metadata"}, "host"),
            ({"host": "10.0.0.1", "note": ""}, "note"),
            ({"host": "", "note": "x"}, "host"),
        ],
    )
    def test_it_rejects_bad_input(self, admin, hx, data, field):
        response = logged_in(admin).post(URL, data, headers=HX if hx else {})
        assert response.status_code == 200
        assert field in response.context["form"].errors
        expected = "jobs/_allowed_hosts.html" if hx else "jobs/allowed_hosts.html"
        assert response.templates[0].name == expected
        assert not AllowedHost.objects.exists()
        assert not AuditEvent.objects.filter(object_type="allowed_host").exists()

    def test_it_refuses_a_duplicate(self, admin, entry):
        response = logged_in(admin).post(URL, {"host": "10.20.1.1/16", "note": "again"})
        assert "already on the list" in str(response.context["form"].errors["host"])
        assert AllowedHost.objects.count() == 1

    def test_it_requires_login(self, client):
        assert login_redirect(client.post(URL, {"host": "10.0.0.1", "note": "x"}))
        assert not AllowedHost.objects.exists()

    def test_it_checks_role(self):
        client = logged_in(user_with_role("Editor"))
        assert client.post(URL, {"host": "10.0.0.1", "note": "x"}).status_code == 403
        assert not AllowedHost.objects.exists()


class TestDelete:
    @pytest.mark.parametrize("hx", [True, False])
    def test_it_works(self, admin, entry, hx):
        response = logged_in(admin).post(delete_url(entry), headers=HX if hx else {})
        assert not AllowedHost.objects.exists()
        event = AuditEvent.objects.filter(action="delete").get()
        assert event.object_repr == "10.20.0.0/16" and event.actor == admin
        if hx:
            assert response.status_code == 200
            assert "10.20.0.0/16 is blocked again." in response.content.decode()
        else:
            assert response.status_code == 302

    def test_it_requires_login(self, client, entry):
        assert login_redirect(client.post(delete_url(entry)))
        assert AllowedHost.objects.exists()

    def test_it_checks_role(self, entry):
        assert logged_in(user_with_role("Editor")).post(delete_url(entry)).status_code == 403
        assert AllowedHost.objects.exists()

    def test_it_rejects_wrong_method(self, admin, entry):
        assert logged_in(admin).get(delete_url(entry)).status_code == 405
        assert AllowedHost.objects.exists()

    def test_an_unknown_entry_is_404(self, admin):
        assert logged_in(admin).post("/settings/allowed-hosts/999/delete/").status_code == 404
