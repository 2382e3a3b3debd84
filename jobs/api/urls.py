"""The JSON API, mounted at /api/v1/ (see docs/api.md)."""

from django.urls import path, re_path

from jobs.api import (
    allowed_hosts,
    calendars,
    celery_workers,
    docs,
    executors,
    ledger,
    schedulers,
    transfer,
    trials,
    views,
)

app_name = "api"
urlpatterns = [
    path("jobs", views.jobs_collection, name="jobs"),
    path("jobs/export", transfer.jobs_export, name="jobs_export"),
    path("jobs/import", transfer.jobs_import, name="jobs_import"),
    path("jobs/<int:job_id>", views.job_item, name="job"),
    path("jobs/<int:job_id>/pause", views.job_pause, name="job_pause"),
    path("jobs/<int:job_id>/resume", views.job_resume, name="job_resume"),
    path("jobs/<int:job_id>/run", views.job_run, name="job_run"),
    path("jobs/<int:job_id>/runs", views.job_runs, name="job_runs"),
    path(
        "jobs/<int:job_id>/test-request",
        trials.job_test_request,
        name="job_test_request",
    ),
    path(
        "jobs/<int:job_id>/test-notification",
        trials.job_test_notification,
        name="job_test_notification",
    ),
    path("jobs/<int:job_id>/next-runs", calendars.job_next_runs_view, name="job_next_runs"),
    path("calendars", calendars.calendars, name="calendars"),
    path("calendars/<int:calendar_id>", calendars.calendar_item, name="calendar"),
    path("jobs/<int:job_id>/slots", ledger.job_slots, name="job_slots"),
    path("jobs/<int:job_id>/notifications", views.job_notifications, name="job_notifications"),
    path("runs", views.runs_collection, name="runs"),
    path("runs/rerun-failed", ledger.runs_rerun_failed, name="runs_rerun_failed"),
    path("runs/<int:run_id>", views.run_item, name="run"),
    path("runs/<int:run_id>/cancel", views.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/run-slot", ledger.run_slot_rerun, name="run_slot_rerun"),
    path("schedule/preview", views.preview, name="schedule_preview"),
    path("tasks", views.tasks, name="tasks"),
    path("executors", executors.executors, name="executors"),
    path("executors/register", executors.executor_register, name="executor_register"),
    path("executors/<str:name>/heartbeat", executors.executor_heartbeat, name="executor_heartbeat"),
    path(
        "executors/<str:name>/unregister",
        executors.executor_unregister,
        name="executor_unregister",
    ),
    path("schedulers", schedulers.schedulers, name="schedulers"),
    path("allowed-hosts", allowed_hosts.allowed_hosts, name="allowed_hosts"),
    path("allowed-hosts/<int:entry_id>", allowed_hosts.allowed_host_item, name="allowed_host"),
    path("workers", celery_workers.workers, name="celery_workers"),
    path("openapi.json", docs.schema, name="openapi"),
    path("docs", docs.docs, name="docs"),
    path("docs/assets/<str:name>", docs.docs_asset, name="docs_asset"),
    path("ping", docs.ping, name="ping"),
    # Last: anything else under /api/v1/ answers a JSON 404, not the web's HTML page.
    # (?s:): a path may hold an encoded line break, which "." alone would not match.
    re_path(r"^(?P<path>(?s:.*))$", views.unknown_endpoint),
]
