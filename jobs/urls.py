from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from jobs.views import (
    allowed_hosts,
    audit,
    calendars,
    celery_workers,
    dashboard,
    executors,
    health,
    job_forms,
    jobs,
    ledger,
    live,
    profile,
    runs,
    transfer,
    trials,
    versions,
    week,
)
from jobs.views.schedule_builder import schedule_builder

app_name = "jobs"
# Django's form views also answer PUT like POST; the pages take only GET and POST.
FORM_METHODS = ["get", "post", "head", "options"]

auth = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", http_method_names=FORM_METHODS
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            success_url=reverse_lazy("jobs:password_done"), http_method_names=FORM_METHODS
        ),
        name="password_change",
    ),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_done"),
    path("language/", profile.language_set, name="language_set"),
    path("profile/", profile.profile, name="profile"),
    path("profile/timezone/", profile.profile_timezone, name="profile_timezone"),
    path("profile/tokens/", profile.api_token_create, name="api_token_create"),
    path("profile/tokens/<int:pk>/revoke/", profile.api_token_revoke, name="api_token_revoke"),
]

urlpatterns = [
    *auth,
    path("", dashboard.dashboard, name="dashboard"),
    path("live/", live.live_changes, name="live_changes"),
    path("dashboard/live/", dashboard.dashboard_live, name="dashboard_live"),
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/bulk/", jobs.job_bulk, name="job_bulk"),
    path("jobs/new/", job_forms.job_create, name="job_create"),
    path("jobs/export/", transfer.jobs_export, name="jobs_export"),
    path("jobs/import/", transfer.job_import, name="job_import"),
    path("jobs/import/apply/", transfer.job_import_apply, name="job_import_apply"),
    path("jobs/fields/", job_forms.job_kind_fields, name="job_kind_fields"),
    path("jobs/preview/", job_forms.schedule_preview, name="schedule_preview"),
    path("jobs/schedule-builder/", schedule_builder, name="schedule_builder"),
    path("jobs/chain-options/", job_forms.chain_options, name="chain_options"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job_detail"),
    path("jobs/<int:pk>/runs/", jobs.job_runs, name="job_runs"),
    path("jobs/<int:pk>/notifications/", jobs.job_notifications, name="job_notifications"),
    path("jobs/<int:pk>/next-runs/", jobs.job_next_runs, name="job_next_runs"),
    path("jobs/<int:pk>/edit/", job_forms.job_edit, name="job_edit"),
    path("jobs/<int:pk>/clone/", job_forms.job_clone, name="job_clone"),
    path("jobs/<int:pk>/delete/", jobs.job_delete, name="job_delete"),
    path("jobs/<int:pk>/pause/", jobs.job_pause, name="job_pause"),
    path("jobs/<int:pk>/resume/", jobs.job_resume, name="job_resume"),
    path("jobs/<int:pk>/run/", jobs.job_run_now, name="job_run_now"),
    path("jobs/<int:pk>/test-request/", trials.job_test_request, name="job_test_request"),
    path(
        "jobs/<int:pk>/test-notification/",
        trials.job_test_notification,
        name="job_test_notification",
    ),
    path("jobs/<int:pk>/run/params/", jobs.job_run_params, name="job_run_params"),
    path("calendars/", calendars.calendar_list, name="calendar_list"),
    path("calendars/new/", calendars.calendar_create_view, name="calendar_create"),
    path("calendars/<int:pk>/", calendars.calendar_edit, name="calendar_edit"),
    path("calendars/<int:pk>/delete/", calendars.calendar_delete_view, name="calendar_delete"),
    path("week/", week.week_ahead_view, name="week_ahead"),
    path("jobs/<int:pk>/slots/", ledger.job_slots, name="job_slots"),
    path("jobs/<int:pk>/versions/", versions.job_versions, name="job_versions"),
    path(
        "jobs/<int:pk>/versions/<int:version>/restore/",
        versions.job_version_restore,
        name="job_version_restore",
    ),
    path("runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("runs/<int:pk>/live/", runs.run_live, name="run_live"),
    path("runs/<int:pk>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/run-slot/", ledger.run_slot_rerun, name="run_slot_rerun"),
    path("runs/rerun-failed/", ledger.rerun_failed, name="rerun_failed"),
    path("audit/", audit.audit_log, name="audit_log"),
    path("executors/", executors.executor_list, name="executor_list"),
    path("workers/", celery_workers.worker_list, name="celery_workers"),
    path("schedulers/", health.scheduler_list, name="scheduler_list"),
    path("settings/allowed-hosts/", allowed_hosts.allowed_hosts, name="allowed_hosts"),
    path(
        "settings/allowed-hosts/<int:pk>/delete/",
        allowed_hosts.allowed_host_delete,
        name="allowed_host_delete",
    ),
    # For machines: no login, no session (see jobs/views/health.py).
    path("healthz", health.healthz, name="healthz"),
    path("healthz/scheduler", health.healthz_scheduler, name="healthz_scheduler"),
    path("metrics", health.metrics_view, name="metrics"),
]
