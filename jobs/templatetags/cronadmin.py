"""Filters for showing times, durations, states and schedules the same way on every page."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html, json_script
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import TIME_STRINGS, timesince, timeuntil
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from jobs.audit import mask_url
from jobs.change_display import label_of
from jobs.models import Job, Notification, Run
from jobs.selectors import job_schedule

register = template.Library()

STATE_TONES = {
    Run.State.SUCCEEDED: "ok",
    Run.State.FAILED: "bad",
    Run.State.TIMED_OUT: "bad",
    Run.State.INTERRUPTED: "bad",
    Run.State.RUNNING: "live",
    Run.State.QUEUED: "live",
    Run.State.MISSED: "warn",
    Run.State.CANCELLED: "muted",
    Run.State.SKIPPED: "muted",
    "active": "ok",
    "paused": "warn",
    # Notifications.
    "sent": "ok",
    "pending": "live",
}


STATE_LABELS = {**dict(Run.State.choices), **dict(Job.State.choices)}


def zone_abbreviation(local: datetime) -> str:
    # Many zones have only numeric abbreviations in the tz database ("+04"): say "UTC+04".
    name = local.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


@register.filter
def when(value: datetime | None, zone: str = "") -> SafeString | str:
    """A timestamp in the viewer's zone (or `zone`), naming its zone, with UTC on hover."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(zone)) if zone else timezone.localtime(value)
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{} <span class="zone">{}</span></time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        f"{date_format(local, 'D')} {local:%Y-%m-%d %H:%M:%S}"
        if zone
        else f"{local:%Y-%m-%d %H:%M:%S}",
        zone_abbreviation(local),
    )


def _ago_text(value: datetime, now: datetime) -> str:
    seconds = (value - now).total_seconds()
    # timesince counts whole minutes; live pages are about seconds.
    if 0 <= seconds < 60:
        return _("in %(n)s s") % {"n": max(1, round(seconds))}
    if -60 < seconds < 0:
        return _("%(n)s s ago") % {"n": round(-seconds)}
    if seconds > 0:
        return _("in %(time)s") % {"time": timeuntil(value, now, depth=1)}
    return _("%(time)s ago") % {"time": timesince(value, now, depth=1)}


@register.filter
def ago(value: datetime | None) -> SafeString | str:
    """ "in 12 s", "3 minutes ago": static/cronadmin.js keeps it counting while the page is open."""
    if value is None:
        return ""
    return format_html(
        '<time datetime="{}" data-ago>{}</time>',
        value.astimezone(UTC).isoformat(timespec="seconds"),
        _ago_text(value, timezone.now()),
    )


def _plural_pattern(unit: str, n: int) -> str:
    return str(TIME_STRINGS[unit] % {"num": n}).replace(str(n), "{n}", 1)


@register.simple_tag
def ago_words() -> SafeString:
    """The words of `ago` in the page's language, for the script that keeps countdowns moving."""
    words = {
        "now": timezone.now().isoformat(timespec="milliseconds"),
        "inSeconds": _("in %(n)s s") % {"n": "{n}"},
        "secondsAgo": _("%(n)s s ago") % {"n": "{n}"},
        "in": _("in %(time)s") % {"time": "{t}"},
        "ago": _("%(time)s ago") % {"time": "{t}"},
        "units": {
            unit: [_plural_pattern(unit, 1), _plural_pattern(unit, 2)]
            for unit in ("day", "hour", "minute")
        },
    }
    return json_script(words, "ago-words")


@register.filter
def duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 1:
        return _("%(n)s ms") % {"n": round(seconds * 1000)}
    if seconds < 10:
        return _("%(n)s s") % {"n": f"{seconds:.2f}".rstrip("0").rstrip(".") or "0"}
    if seconds < 60:
        return _("%(n)s s") % {"n": f"{seconds:.0f}"}
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return _("%(m)s min %(s)s s") % {"m": minutes, "s": seconds}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}


@register.filter
def tone(state: str) -> str:
    return STATE_TONES.get(state, "muted")


@register.filter
def notification_event(event: str) -> str:
    return str(dict(Notification.Event.choices).get(event, event))


@register.filter
def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


@register.filter
def schedule_words(job: Any) -> str:
    schedule = job_schedule(job)
    if schedule is None:
        return _("Invalid schedule: it never fires.")
    return schedule.describe(get_language() or "en")


@register.simple_tag
def results_strip(strip: list[dict[str, Any]]) -> SafeString:
    """The last results as small coloured ticks, each a link to its run.

    Drawn here rather than in a template loop: a page of 50 jobs has 1,000 ticks, and a
    `{% url %}`, a date filter and a lazy label for each cost more than the rest of the page.
    Every piece is escaped once per state or is a number, so the markup stays inert.
    """
    base = escape(reverse("jobs:run_detail", args=[0]).removesuffix("0/"))
    labels: dict[str, str] = {}
    ticks = []
    for run in strip:
        state = run["state"]
        if state not in labels:
            labels[state] = escape(state_label(state))
        local = timezone.localtime(run["scheduled_for"])
        ticks.append(
            f'<a class="tick tone-{escape(tone(state))}" href="{base}{int(run["id"])}/" '
            f'title="{labels[state]} · {local:%Y-%m-%d %H:%M:%S}">'
            f'<span class="sr-only">{labels[state]}</span></a>'
        )
    return mark_safe("".join(ticks))


@register.filter
def field_label(name: str) -> str:
    """A definition field ("max_retries", "config.url") in the words of the job form."""
    return label_of(name)


@register.filter
def masked_url(value: str) -> str:
    """A secret URL (the notification webhook's) as anyone may see it: its host, not its path."""
    return mask_url(value)


@register.filter
def plain(value: Any) -> str:
    """A stored value (from a definition or a diff) as short readable text."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "—"
    return str(value)
