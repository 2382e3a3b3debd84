"""Every write goes through a service here; the web pages, the API, the scheduler and the
management commands call these, so they all behave the same.

- jobs: job definitions and runs (create, change, pause, resume, delete, run now, cancel);
- reruns: running a slot again, alone or all the failed slots of a period;
- accounts: a person's preferences and API tokens;
- executors: services that register their own HTTP jobs;
- encryption: re-encrypting the secrets in job settings with the current key.
- chains: the jobs a job starts when its runs end (checked and saved for job_create/job_update).
- transfer: job definitions exported to a file, and files imported (planned, then applied);
- job_batches: many checked jobs written at once, for imports;
- allowed_hosts: the internal hosts and networks http jobs and webhooks may call;
- trials: a test request of an http job, a test message on a job's notification channels.
"""

from jobs.services.accounts import (
    API_TOKEN_PREFIX,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    profile_timezone_set,
    profile_update,
)
from jobs.services.allowed_hosts import allowed_host_create, allowed_host_delete
from jobs.services.chains import CHAIN_FIELDS, job_chains
from jobs.services.encryption import job_secrets_reencrypt
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
    runs_prune,
)
from jobs.services.reruns import (
    FAILED_STATES,
    MAX_RERUN_PERIOD,
    MAX_RERUNS,
    RERUNNABLE_STATES,
    RerunPlan,
    run_slot_rerun,
    runs_rerun_failed,
    slot_run_id,
)
from jobs.services.transfer import (
    ImportPlan,
    JobFileError,
    PlannedJob,
    jobs_export,
    jobs_import_apply,
    jobs_import_plan,
)
from jobs.services.trials import ChannelResult, job_test_notification, job_test_request

__all__ = [
    "ANCHOR_FIELDS",
    "API_TOKEN_PREFIX",
    "Actor",
    "CHAIN_FIELDS",
    "DEFINITION_FIELDS",
    "EXECUTOR_JOB_FIELDS",
    "FAILED_STATES",
    "MAX_RERUNS",
    "MAX_RERUN_PERIOD",
    "RERUNNABLE_STATES",
    "RerunPlan",
    "ImportPlan",
    "JobFileError",
    "MAX_HEARTBEAT_SECONDS",
    "PlannedJob",
    "ChannelResult",
    "allowed_host_create",
    "allowed_host_delete",
    "api_token_authenticate",
    "api_token_create",
    "api_token_revoke",
    "bump_change_marker",
    "executor_heartbeat",
    "executor_register",
    "executor_unregister",
    "job_chains",
    "job_create",
    "job_definition",
    "job_delete",
    "job_pause",
    "job_restore_version",
    "job_secrets_reencrypt",
    "job_test_notification",
    "job_test_request",
    "job_resume",
    "job_run_now",
    "job_update",
    "jobs_export",
    "jobs_import_apply",
    "jobs_import_plan",
    "jobs_resume_due",
    "profile_timezone_set",
    "profile_update",
    "run_cancel",
    "run_slot_rerun",
    "runs_prune",
    "runs_rerun_failed",
    "slot_run_id",
]
