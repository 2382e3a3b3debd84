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
