from datetime import UTC, datetime

from jobs.previews import schedule_preview

START = datetime(2026, 3, 20, tzinfo=UTC)


def test_it_previews_a_valid_schedule():
    preview = schedule_preview("0 9 * * 1-5", "Europe/Berlin", count=3, after=START)
    assert preview.valid
    assert preview.description == "At 09:00, Monday through Friday"
    assert preview.next_runs == [
        datetime(2026, 3, 20, 8, tzinfo=UTC),
        datetime(2026, 3, 23, 8, tzinfo=UTC),
        datetime(2026, 3, 24, 8, tzinfo=UTC),
    ]
    assert preview.warnings == []


def test_it_reports_errors_by_field():
    bad = schedule_preview("61 * * * *", "UTC")
    assert (bad.valid, bad.error_field) == (False, "schedule")
    assert "61" in bad.error
    zone = schedule_preview("* * * * *", "Mars/Base")
    assert (zone.valid, zone.error_field) == (False, "timezone")
    assert "Mars/Base" in zone.error


def test_it_warns_about_dst_and_frequency_and_never():
    gap = schedule_preview("30 2 * * *", "Europe/Berlin", count=15, after=START)
    assert any("clocks go forward on 2026-03-29" in w for w in gap.warnings)
    overlap = schedule_preview(
        "30 2 * * *", "Europe/Berlin", count=3, after=datetime(2026, 10, 24, tzinfo=UTC)
    )
    assert any("happens twice" in w for w in overlap.warnings)
    assert schedule_preview("@every 10s", "UTC").warnings == [
        "Runs more often than once a minute (every 10 s)."
    ]
    assert schedule_preview("0 0 30 2 *", "UTC").warnings == ["This schedule never fires."]


def test_it_speaks_chinese():
    preview = schedule_preview("0 9 * * 1-5", "Asia/Shanghai", language="zh-hans")
    assert "周一" in preview.description


DECEMBER = datetime(2026, 12, 3, 10, tzinfo=UTC)


def test_clock_changes_are_looked_for_a_year_ahead():
    preview = schedule_preview("30 2 * * *", "Europe/Berlin", after=DECEMBER)
    assert all(run.month == 12 for run in preview.next_runs)  # the next ten runs see no change
    assert preview.warnings == [
        "The clocks go forward on 2027-03-28: the 02:30 run moves to 03:00, the first time "
        "after the gap.",
        "02:30 on 2027-10-31 happens twice as the clocks go back; it runs once, at the first.",
    ]
    several = schedule_preview("0,30 2 * * *", "Europe/Berlin", after=DECEMBER)
    assert "the 02:00, 02:30 runs move to 03:00" in several.warnings[0]


def test_times_clear_of_the_change_get_no_warning():
    assert schedule_preview("30 3 * * *", "Europe/Berlin", after=DECEMBER).warnings == []
    assert schedule_preview("30 2 * * *", "Asia/Shanghai", after=DECEMBER).warnings == []
    # Sundays only: the change is on a Sunday, so it matters...
    assert len(schedule_preview("30 2 * * 0", "Europe/Berlin", after=DECEMBER).warnings) == 2
    # ...and on Mondays it does not.
    assert schedule_preview("30 2 * * 1", "Europe/Berlin", after=DECEMBER).warnings == []


def test_jobs_on_elapsed_time_are_told_what_happens_to_their_runs():
    preview = schedule_preview("*/10 2 * * *", "Europe/Berlin", after=DECEMBER)
    assert preview.warnings == [
        "The clocks go forward on 2027-03-28: there are no runs from 02:00 to 03:00.",
        "The clocks go back on 2027-10-31: the runs from 02:00 to 03:00 happen twice.",
    ]
    # Every hour of the day: losing or gaining one is what everyone expects.
    assert schedule_preview("*/15 * * * *", "Europe/Berlin", after=DECEMBER).warnings == []


def test_the_preview_honours_start_and_end():
    preview = schedule_preview(
        "30 2 * * *",
        "Europe/Berlin",
        after=DECEMBER,
        start_at=datetime(2027, 3, 27, tzinfo=UTC),
        end_at=datetime(2027, 3, 30, tzinfo=UTC),
    )
    assert preview.next_runs == [
        datetime(2027, 3, 27, 1, 30, tzinfo=UTC),
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),  # 03:00 CEST, the first time after the gap
        datetime(2027, 3, 29, 0, 30, tzinfo=UTC),
    ]
    # Only the spring change falls between start and end.
    assert len(preview.warnings) == 1 and "2027-03-28" in preview.warnings[0]
    ended = schedule_preview(
        "@daily", "UTC", after=DECEMBER, end_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert (ended.next_runs, ended.warnings) == ([], ["No run before the end date."])


def test_a_rejected_schedule_comes_with_a_suggestion():
    preview = schedule_preview("0 0 9 ? * MON-FRI", "UTC", language="zh-hans")
    assert not preview.valid and "?" in preview.error
    assert preview.suggestion.schedule == "0 9 * * mon-fri"
    assert "Quartz" in preview.suggestion_note and "周一" in preview.suggestion_description
    assert schedule_preview("61 * * * *", "UTC").suggestion is None


def test_dst_warnings_speak_chinese():
    preview = schedule_preview("30 2 * * *", "Europe/Berlin", after=DECEMBER, language="zh-hans")
    assert preview.warnings == [
        "2027-03-28 时钟拨快：02:30 的运行改到 03:00，即跳过的时段之后的第一个时刻。",
        "2027-10-31 时钟回拨，02:30 会出现两次；只在第一次时运行。",
    ]
