"""Each person's language and time zone, applied to every request they make."""

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from jobs.models import UserProfile
from jobs.permissions import can
from jobs.schedules import ScheduleError, parse_timezone


class UserPreferencesMiddleware:
    """After authentication: the profile's language wins over the browser's, and its zone is
    the one every timestamp is shown in (UTC when none is set)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language, zone = "", ""
        if request.user.is_authenticated:
            saved = UserProfile.objects.filter(user=request.user).values_list(
                "language", "timezone"
            )
            language, zone = saved.first() or ("", "")
            # No zone chosen yet: the pages offer the browser's (includes/zone_offer.html).
            request.cronadmin_zone_unset = not zone
        previous = translation.get_language()
        if language in dict(settings.LANGUAGES):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        timezone.activate(_zone(zone))
        try:
            return self.get_response(request)
        finally:
            # The thread serves other work next (another request, a test): nothing of this
            # person's language or zone stays with it.
            timezone.deactivate()
            translation.activate(previous)


def _zone(name: str) -> ZoneInfo:
    try:
        return parse_timezone(name) if name else ZoneInfo("UTC")
    except ScheduleError:
        return ZoneInfo("UTC")  # a zone removed from the tz database since it was saved


def ui(request: HttpRequest) -> dict[str, Any]:
    """What every template needs to decide which buttons to show (the services still check)."""
    user = getattr(request, "user", None)
    return {
        "can_operate": can(user, "operate") if user is not None else False,
        "can_edit": can(user, "edit") if user is not None else False,
        "can_admin": can(user, "admin") if user is not None else False,
        "viewer_timezone": timezone.get_current_timezone_name(),
        "zone_unset": getattr(request, "cronadmin_zone_unset", False),
    }
