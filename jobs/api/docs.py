"""The API's self-description: the OpenAPI schema, interactive docs, and a liveness check.

The docs page is Swagger UI from the swagger-ui-bundle package, served by the product itself: no
CDN, so it works offline and behind strict networks. Its start-up script is a file of its own, not
inline, so a Content-Security-Policy without 'unsafe-inline' still allows it.
"""

from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from swagger_ui_bundle import swagger_ui_path

from jobs.api.endpoint import api_view, isoformat
from jobs.api.errors import not_found
from jobs.api.openapi import openapi_schema

# Only these files of the bundle are served: never a path taken from the URL.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
START_SCRIPT = """window.addEventListener("load", function () {
  var page = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: page.dataset.schema,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // A logged-in browser calls the API with its session; Django wants the CSRF token then.
    // It comes from the page: the cookie is HttpOnly.
    requestInterceptor: function (request) {
      request.headers["X-CSRFToken"] = page.dataset.csrf;
      return request;
    },
  });
});
"""
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CronAdmin API</title>
<link rel="icon" href="{assets}favicon-32x32.png">
<link rel="stylesheet" href="{assets}swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-schema="{schema}" data-csrf="{csrf}"></div>
<script src="{assets}swagger-ui-bundle.js"></script>
<script src="{assets}start.js"></script>
</body>
</html>
"""


@api_view("GET", public=True)
def schema(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_schema())


@api_view("GET", public=True)
def docs(request: HttpRequest) -> HttpResponse:
    assets = reverse("api:docs_asset", args=["x"])[:-1]
    schema_url, csrf = reverse("api:openapi"), get_token(request)
    page = PAGE.format(assets=escape(assets), schema=escape(schema_url), csrf=escape(csrf))
    return HttpResponse(page, content_type="text/html; charset=utf-8")


@api_view("GET", public=True)
def docs_asset(request: HttpRequest, name: str) -> HttpResponse:
    if name == "start.js":
        return HttpResponse(START_SCRIPT, content_type="text/javascript; charset=utf-8")
    if name not in ASSETS:
        raise not_found()
    response = FileResponse((Path(swagger_ui_path) / name).open("rb"), content_type=ASSETS[name])
    response["Cache-Control"] = "public, max-age=86400"
    return response


@api_view("GET", public=True)
def ping(request: HttpRequest) -> HttpResponse:
    # Liveness only: it answers without the database, so a slow database does not get the web
    # process restarted. The scheduler's health is on the dashboard.
    return JsonResponse({"status": "ok", "time": isoformat(timezone.now())})
