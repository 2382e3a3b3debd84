""" "Has anything on this page changed?": the cheap question every open page asks every 2 s.

The answer is one primary-key lookup of the topics' versions (see jobs.live). Nothing changed:
204 (htmx then does nothing; a plain client sending If-None-Match gets 304). Something changed:
the watcher element with the new versions, and one htmx event per changed topic, to which only
the regions showing that topic answer by fetching themselves.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from jobs import live
from jobs.views.access import role_required


@require_GET
@login_required
@role_required("view")
def live_changes(request: HttpRequest) -> HttpResponse:
    topics = [t for t in request.GET.get("topics", "").split(",") if t]
    if not topics or len(topics) > live.MAX_TOPICS or not all(map(live.TOPIC.match, topics)):
        return HttpResponseBadRequest(_("Unknown topics."), content_type="text/plain")
    current = live.versions(topics)
    token = live.token(current)
    etag = f'"{token}"'
    since = request.GET.get("since", "")
    if since == token or request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304 if since != token else 204)
    else:
        seen = dict(zip(topics, since.split("."), strict=False))
        context = {"live_watch": {"topics": ",".join(current), "since": token}}
        response = render(request, "jobs/_live_watch.html", context)
        changed = [t for t in current if seen.get(t) != str(current[t])]
        for topic in changed:
            trigger_client_event(response, live.event_name(topic))
    response["ETag"] = etag
    response["Cache-Control"] = "no-store"
    return response
