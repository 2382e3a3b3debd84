from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("jobs.api.urls")),
    path("", include("jobs.api.legacy_urls")),
    path("", include("jobs.urls")),
]

# Answers 503 with a page of its own (JSON under /api/) when the database cannot be reached.
handler500 = "jobs.views.errors.server_error"
