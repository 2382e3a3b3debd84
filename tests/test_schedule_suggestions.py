"""What to write instead of a rejected schedule; the parser itself stays strict. No database."""

import pytest

from jobs.cron_syntax import ScheduleError
from jobs.schedule_suggestions import Reason, suggest_schedule
from jobs.schedules import parse_schedule


@pytest.mark.parametrize(
    ("typed", "suggested", "reason"),
    [
        ("every day at 9", "0 9 * * *", Reason.WORDS),
        ("9am weekdays", "0 9 * * 1-5", Reason.WORDS),
        ("weekdays at 9:15", "15 9 * * 1-5", Reason.WORDS),
        ("at 5pm on fridays", "0 17 * * 5", Reason.WORDS),
        ("monday 8am", "0 8 * * 1", Reason.WORDS),
        ("at noon every day", "0 12 * * *", Reason.WORDS),
        ("weekends at 10", "0 10 * * 6,0", Reason.WORDS),
        ("every 5 minutes", "*/5 * * * *", Reason.WORDS),
        ("every hour", "0 * * * *", Reason.WORDS),
        ("every 2 hours", "0 */2 * * *", Reason.WORDS),
        ("every day", "@daily", Reason.WORDS),
        ("每天 9点", "0 9 * * *", Reason.WORDS),
        ("工作日 上午9点半", "30 9 * * 1-5", Reason.WORDS),
        ("每天下午3点", "0 15 * * *", Reason.WORDS),
        ("每周一 8:00", "0 8 * * 1", Reason.WORDS),
        ("每5分钟", "*/5 * * * *", Reason.WORDS),
        ("*/5", "*/5 * * * *", Reason.MISSING_FIELDS),
        ("*/5 * * *", "*/5 * * * *", Reason.MISSING_FIELDS),
        ("0 9 * *", "0 9 * * *", Reason.MISSING_FIELDS),
        ("0 0 9 ? * MON-FRI", "0 9 * * mon-fri", Reason.QUARTZ),
        ("0 0 9 ? * 2-6", "0 9 * * 1-5", Reason.QUARTZ),  # Quartz counts Sunday as 1
        ("0 30 8 ? * * *", "30 8 * * *", Reason.QUARTZ),
        ("15 0 12 1 * ?", "15 0 12 1 * *", Reason.QUARTZ),  # seconds are kept when not 0
        ("0 0 12 ? * 6#3", "0 12 * * 5#3", Reason.QUARTZ),
        ("daily", "@daily", Reason.MACRO),
        ("manual", "@manual", Reason.MACRO),
        ("@every 5 minutes", "@every 5m", Reason.MACRO),
        ("every 90 seconds", "@every 90s", Reason.MACRO),
    ],
)
def test_it_suggests_a_valid_schedule(typed, suggested, reason):
    with pytest.raises(ScheduleError):
        parse_schedule(typed)  # still rejected: a suggestion never makes it valid
    suggestion = suggest_schedule(typed)
    assert (suggestion.schedule, suggestion.reason) == (suggested, reason)
    assert parse_schedule(suggestion.schedule).text == suggested


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "hello",
        "61 * * * *",  # a value out of range: the parser's message says what is wrong
        "0 0 9 ? * MON-FRI 2030",  # a Quartz year has no cron equivalent
        "every day at 25",
        "* * * * * * * *",
        "0 9 * * *",  # valid already
    ],
)
def test_it_suggests_nothing_it_cannot_stand_behind(typed):
    assert suggest_schedule(typed) is None
