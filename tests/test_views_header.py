"""The header every page shares: the menu button, the API docs link, the favicon."""

import pytest
from django.contrib.staticfiles import finders

from tests.test_views_base import as_viewer_fixture, viewer_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_header_has_a_menu_button_the_api_docs_and_a_favicon(as_viewer):
    html = as_viewer.get("/").content.decode()
    assert 'class="menu-button" aria-controls="top-menu" aria-expanded="false" hidden' in html
    assert '<a href="/api/v1/docs">API</a>' in html
    assert 'rel="icon" href="/static/favicon.svg"' in html
    assert finders.find("favicon.svg")
    assert as_viewer.get("/api/v1/docs").status_code == 200


def test_the_login_page_has_the_favicon_but_no_menu(client):
    html = client.get("/login/").content.decode()
    assert 'rel="icon"' in html and 'aria-label="Main"' not in html
