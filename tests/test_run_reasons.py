import importlib
import re

import pytest
from django.utils import translation

from jobs import run_reasons
from jobs.models import Job, Run
from jobs.run_reasons import MESSAGES, WORDS, Reason, reason, render, render_run

migration = importlib.import_module("jobs.migrations.0015_run_reason_codes")

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Messages that read the same in both languages: a status line or text quoted from elsewhere.
SAME_IN_CHINESE = {"http_status", "exception", "message"}
ENGLISH_PUNCTUATION = re.compile(r"[,.;:()?!]")


def sample_params(code: str) -> dict[str, object]:
    params: dict[str, object] = {}
    for name in PLACEHOLDER.findall(MESSAGES[code]):
        params[name] = next(iter(WORDS[name])) if name in WORDS else f"<{name}>"
    return params


def without_params(text: str, params: dict[str, object]) -> str:
    for value in params.values():
        text = text.replace(str(value), "")
    return text


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_renders_in_english_with_its_parameters(code):
    params = sample_params(code)
    with translation.override("en"):
        text = render(code, params)
    assert text == Reason(code, params).english
    assert "%(" not in text
    for name, value in params.items():
        if name not in WORDS:
            assert str(value) in text


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_renders_in_chinese_with_chinese_punctuation(code):
    params = sample_params(code)
    with translation.override("zh-hans"):
        text = render(code, params)
    assert "%(" not in text
    for name, value in params.items():
        if name not in WORDS:
            assert str(value) in text
    if code not in SAME_IN_CHINESE:
        assert text != Reason(code, params).english
        fixed = without_params(text, params)
        assert not ENGLISH_PUNCTUATION.search(fixed), fixed
        assert re.search(r"[\u4e00-\u9fff]", fixed)


@pytest.mark.parametrize("name", sorted(WORDS))
def test_coded_parameters_show_their_label_never_the_code(name):
    code = next(c for c in MESSAGES if f"%({name})s" in MESSAGES[c])
    for value in WORDS[name]:
        params = {**sample_params(code), name: value}
        with translation.override("zh-hans"):
            chinese = render(code, params)
        english = Reason(code, params).english
        assert str(WORDS[name][value]) not in ("", None)
        if value:
            assert f" {value} " not in f" {chinese} "
        assert chinese != english


def test_a_policy_reads_as_its_label_in_each_language():
    why = reason("missed_down", policy=Job.Misfire.ONCE)
    assert why.english == "No scheduler was running at this time; not run (policy: Run once)."
    with translation.override("zh-hans"):
        assert why.text() == "当时没有调度器在运行，未执行（策略：补跑一次）。"
        assert "Run once" not in why.text() and "once" not in why.text()


def test_no_one_asking_reads_as_the_system_in_each_language():
    why = reason("cancel_requested", who="")
    assert why.english == "Cancel requested by the system."
    with translation.override("zh-hans"):
        assert "the system" not in why.text()


def test_an_unknown_code_is_refused_when_written():
    with pytest.raises(KeyError):
        reason("no_such_reason")


def test_a_row_without_a_code_shows_its_stored_text():
    run = Run(reason="Something from an older version.", reason_code="", reason_params={})
    with translation.override("zh-hans"):
        assert render_run(run) == "Something from an older version."


def test_a_row_with_a_code_this_version_does_not_know_shows_its_stored_text():
    row = {"reason": "Skipped: a newer reason.", "reason_code": "future_code", "reason_params": {}}
    assert render_run(row) == "Skipped: a newer reason."


def test_a_row_whose_parameters_do_not_fit_shows_its_stored_text():
    run = Run(reason="Job paused: x", reason_code="paused_note", reason_params={})
    assert render_run(run) == "Job paused: x"


def test_fields_store_the_english_text_the_code_and_the_parameters():
    fields = reason("overlap_limit", limit=2).fields()
    assert fields == {
        "reason": "2 run(s) already in progress, the job's limit.",
        "reason_code": "overlap_limit",
        "reason_params": {"limit": 2},
    }


def test_redaction_reaches_the_text_parameters():
    why = reason("http_redirect", status=302, location="/x?token=s3cr3t", expected="200-299")
    masked = why.redacted(lambda text: text.replace("s3cr3t", "••••"))
    assert "s3cr3t" not in masked.english and masked.params["status"] == 302


# --- the data migration of reasons written before the codes ---------------------------------

OLD_TEXTS = [
    ("Job paused.", "paused", {}),
    ("Job paused: maintenance window", "paused_note", {"note": "maintenance window"}),
    ("The previous run (#12) was still in progress.", "overlap_previous_run", {"run": "12"}),
    ("2 run(s) already in progress, the job's limit.", "overlap_limit", {"limit": "2"}),
    (
        "Catch-up run: no scheduler was running at this time (policy: Run once).",
        "catch_up_down",
        {"policy": "once"},
    ),
    (
        "Fired 75 s after its time, past the 10 s grace: the scheduler was busy or stopped, or "
        "the system clock jumped forward; not run (policy: Skip missed runs).",
        "missed_late",
        {"late": "75", "grace": "10", "policy": "skip"},
    ),
    (
        "Attempt 2 of 3, 10 s after run #7 timed out.",
        "retry",
        {"attempt": "2", "attempts": "3", "delay": "10", "run": "7", "outcome": "timed_out"},
    ),
    (
        "Started because run #4 of nightly export succeeded. Skipped: job paused: quiet",
        "chain_paused_note",
        {"run": "4", "upstream": "nightly export", "outcome": "succeeded", "note": "quiet"},
    ),
    ("Cancel requested by alice.", "cancel_requested", {"who": "alice"}),
    ("HTTP 500, expected 200-299", "http_unexpected", {"status": "500", "expected": "200-299"}),
    ("exit code 3", "exit_code", {"code": "3"}),
    ("timed out after 2 s", "timed_out", {"seconds": "2"}),
    (
        "Executor billing offline: no heartbeat since 2026-01-02 03:04:05 UTC (3 missed).",
        "executor_offline",
        {"executor": "billing", "since": "2026-01-02 03:04:05", "missed": "3"},
    ),
]


@pytest.mark.parametrize(("text", "code", "params"), OLD_TEXTS)
def test_the_migration_recognises_old_reasons(text, code, params):
    assert migration.recognise(text) == (code, params)
    assert Reason(code, params).english == text


def test_every_old_reason_becomes_a_known_code():
    assert {code for _pattern, code in migration.OLD_REASONS} <= set(MESSAGES)


def test_the_migration_leaves_text_it_does_not_recognise():
    assert migration.recognise("RuntimeError: boom") is None
    assert migration.recognise("Catch-up run: no scheduler was running (policy: Unknown).") is None


def test_the_migration_gives_old_rows_their_codes(db):
    from django.apps import apps

    job = Job.objects.create(name="old", kind="task", schedule="@daily", config={"task": "x"})
    old = [
        "Job paused: maintenance window",
        "No scheduler was running at this time; not run (policy: Run all (capped)).",
        "RuntimeError: boom",
        "Runs the slot of run #3 again, as asked by bob.",
    ]
    runs = [
        Run.objects.create(job=job, job_version=1, trigger="manual", reason=text, scheduled_for=at)
        for text, at in zip(
            old, [job.created_at.replace(microsecond=i) for i in range(4)], strict=True
        )
    ]
    migration.codes_for_old_reasons(apps, None)
    fresh = {run.pk: run for run in Run.objects.filter(pk__in=[r.pk for r in runs])}
    paused, missed, crashed, rerun = (fresh[r.pk] for r in runs)
    assert (paused.reason_code, paused.reason_params) == (
        "paused_note",
        {"note": "maintenance window"},
    )
    assert (missed.reason_code, missed.reason_params) == ("missed_down", {"policy": "all"})
    assert (crashed.reason_code, crashed.reason_params) == ("", {})
    assert (rerun.reason_code, rerun.reason_params) == ("rerun", {"run": "3", "who": "bob"})
    assert crashed.reason == "RuntimeError: boom"
    with translation.override("zh-hans"):
        assert render_run(missed) == "当时没有调度器在运行，未执行（策略：全部补跑（有上限））。"
        assert render_run(crashed) == "RuntimeError: boom"


def test_adding_a_reason_is_one_entry(monkeypatch):
    monkeypatch.setitem(run_reasons.MESSAGES, "calendar_skip", "Skipped: %(calendar)s says so.")
    assert reason("calendar_skip", calendar="Holidays").english == "Skipped: Holidays says so."
