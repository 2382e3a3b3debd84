"""Every write goes through a service here; the web pages, the API, the scheduler and the
management commands call these, so they all behave the same.

- jobs: job definitions and runs (create, change, pause, resume, delete, run now, cancel, retry);
- accounts: a person's preferences and API tokens;
- executors: services that register their own HTTP jobs;
- transfer: job definitions exported to a file, and files imported (planned, then applied).
"""

from jobs.services.accounts import (
    API_TOKEN_PREFIX,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    profile_update,
)
from jobs.services.executors import (
    EXECUTOR_JOB_FIELDS,
    MAX_HEARTBEAT_SECONDS,
    executor_heartbeat,
    executor_register,
    executor_unregister,
)
from jobs.services.jobs import (
    ANCHOR_FIELDS,
    DEFINITION_FIELDS,
    RETRYABLE_STATES,
    Actor,
    bump_change_marker,
    job_create,
    job_definition,
    job_delete,
    job_pause,
    job_restore_version,
    job_resume,
    job_run_now,
    job_update,
    jobs_resume_due,
    run_cancel,
    run_retry,
    runs_prune,
)
from jobs.services.transfer import (
    ImportPlan,
    JobFileError,
    PlannedJob,
    jobs_export,
    jobs_import_apply,
    jobs_import_plan,
)

__all__ = [
    "ANCHOR_FIELDS",
    "API_TOKEN_PREFIX",
    "Actor",
    "DEFINITION_FIELDS",
    "EXECUTOR_JOB_FIELDS",
    "ImportPlan",
    "JobFileError",
    "MAX_HEARTBEAT_SECONDS",
    "PlannedJob",
    "RETRYABLE_STATES",
    "api_token_authenticate",
    "api_token_create",
    "api_token_revoke",
    "bump_change_marker",
    "executor_heartbeat",
    "executor_register",
    "executor_unregister",
    "job_create",
    "job_definition",
    "job_delete",
    "job_pause",
    "job_restore_version",
    "job_resume",
    "job_run_now",
    "job_update",
    "jobs_export",
    "jobs_import_apply",
    "jobs_import_plan",
    "jobs_resume_due",
    "profile_update",
    "run_cancel",
    "run_retry",
    "runs_prune",
]
