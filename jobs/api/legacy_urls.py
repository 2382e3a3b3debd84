"""The seed's /cron endpoints, mounted at the site root by cronadmin/urls.py."""

from django.urls import path, re_path

from jobs.api import legacy, views

app_name = "legacy"
urlpatterns = [
    path("cron", legacy.cron_collection, name="cron"),
    path("cron/<int:job_id>", legacy.cron_item, name="cron_item"),
    # Anything else under /cron/ is the API's, so it answers a JSON 404 too.
    re_path(r"^cron/(?P<path>[\s\S]*)$", views.unknown_endpoint),
]
