from django.utils import translation

from jobs.change_display import change_rows, display, summary_rows


def test_a_change_shows_the_form_label_and_the_choice_label():
    (row,) = change_rows({"overlap": ["skip", "queue"]})
    assert (row.label, row.before, row.after) == (
        "When the previous run is still going",
        "Skip the new run",
        "Queue one run",
    )


def test_nothing_to_nothing_is_left_out():
    assert change_rows({"description": [None, ""], "end_at": ["", None]}) == []


def test_rows_follow_the_order_of_the_form():
    rows = change_rows({"timezone": ["UTC", "Asia/Tokyo"], "name": ["a", "b"]})
    assert [row.field for row in rows] == ["name", "timezone"]


def test_a_creation_lists_what_is_not_the_default():
    created = {
        "name": [None, "nightly"],
        "kind": [None, "task"],
        "config": [None, {"task": "demo.echo", "params": {"message": "hi"}}],
        "schedule": [None, "0 3 * * *"],
        "timezone": [None, "UTC"],
        "max_retries": [None, 0],
        "priority": [None, 0],
        "overlap": [None, "skip"],
        "timeout_seconds": [None, 3600],
    }
    assert summary_rows(created, 1) == [
        ("Name", "nightly"),
        ("Kind", "Python task"),
        ("Task", "demo.echo"),
        ("Parameters", "message=hi"),
        ("Schedule", "0 3 * * *"),
        ("Time zone", "UTC"),
        ("Timeout", "1 hour"),
    ]


def test_values_read_in_chinese():
    with translation.override("zh-hans"):
        assert display("timeout_seconds", 1800) == "30 分钟"
        assert display("kind", "http") != "http"
        assert display("reason", "pause ended") == "暂停已结束"


def test_chains_show_job_names():
    (row,) = change_rows({"on_success": [[], [7]]}, {7: "cleanup"})
    assert (row.label, row.before, row.after) == ("On success", "—", "cleanup")
