import re

from django.db import migrations, models

# The English sentences runs were given before reasons had codes, and the code each becomes.
# Frozen here: later wording changes in jobs.run_reasons must not change what this recognises.
POLICY = r"Skip missed runs|Run once|Run all \(capped\)"
OLD_REASONS = [
    (r"Job paused\.", "paused"),
    (r"Job paused: (?P<note>.*)", "paused_note"),
    (r"Job paused; no scheduler was running either\.", "paused_down"),
    (
        r"Executor (?P<executor>\S+) offline: no heartbeat since (?P<since>[\d-]+ [\d:]+) UTC "
        r"\((?P<missed>\d+) missed\)\.",
        "executor_offline",
    ),
    (r"The previous run was still in progress\.", "overlap_previous"),
    (r"The previous run \(#(?P<run>\d+)\) was still in progress\.", "overlap_previous_run"),
    (r"One run is already waiting for the running one to finish\.", "overlap_waiting"),
    (r"(?P<limit>\d+) run\(s\) already in progress, the job's limit\.", "overlap_limit"),
    (
        r"Replaced by a newer run \(#(?P<run>\d+)\), as the job's overlap policy says\.",
        "overlap_replaced",
    ),
    (r"Job deleted before the run could start\.", "job_deleted"),
    (r"The job was deleted while this run was in progress\.", "job_deleted_running"),
    (
        rf"Catch-up run: no scheduler was running at this time \(policy: (?P<policy>{POLICY})\)\.",
        "catch_up_down",
    ),
    (
        rf"No scheduler was running at this time; not run \(policy: (?P<policy>{POLICY})\)\.",
        "missed_down",
    ),
    (
        r"Catch-up run: fired (?P<late>\d+) s after its time, past the (?P<grace>\d+) s grace "
        rf"\(policy: (?P<policy>{POLICY})\)\.",
        "catch_up_late",
    ),
    (
        r"Fired (?P<late>\d+) s after its time, past the (?P<grace>\d+) s grace: the scheduler "
        r"was busy or stopped, or the system clock jumped forward; not run "
        rf"\(policy: (?P<policy>{POLICY})\)\.",
        "missed_late",
    ),
    (
        r"Attempt (?P<attempt>\d+) of (?P<attempts>\d+), (?P<delay>\d+) s after run "
        r"#(?P<run>\d+) (?P<outcome>failed|timed out)\.",
        "retry",
    ),
    (
        r"Started because run #(?P<run>\d+) of (?P<upstream>.+) (?P<outcome>succeeded|failed|"
        r"finished)\.",
        "chain",
    ),
    (
        r"Started because run #(?P<run>\d+) of (?P<upstream>.+) (?P<outcome>succeeded|failed|"
        r"finished)\. Skipped: job paused\.",
        "chain_paused",
    ),
    (
        r"Started because run #(?P<run>\d+) of (?P<upstream>.+) (?P<outcome>succeeded|failed|"
        r"finished)\. Skipped: job paused: (?P<note>.*)",
        "chain_paused_note",
    ),
    (r"Runs the slot of run #(?P<run>\d+) again, as asked by (?P<who>.+)\.", "rerun"),
    (
        r"Runs a failed slot again: (?P<who>.+) re-ran the failed runs from (?P<start>.+ UTC) "
        r"to (?P<end>.+ UTC)\.",
        "rerun_failed",
    ),
    (r"cancelled", "cancelled"),
    (r"Cancel requested by (?P<who>.+)\.", "cancel_requested"),
    (r"Cancelled by (?P<who>.+) before it started\.", "cancelled_before_start"),
    (r"Cancelled on request\.", "cancelled_on_request"),
    (r"timed out after (?P<seconds>[\d.]+) s", "timed_out"),
    (
        r"Stopped after its (?P<seconds>\d+) s timeout; its worker process was killed\.",
        "timed_out_killed",
    ),
    (
        r"The worker process died running the task \(exit code (?P<exit_code>-?\d+)\)\.",
        "worker_died",
    ),
    (
        r"Cut short: the scheduler stopped \(received (?P<signal>\w+)\) and the run did not "
        r"finish within the (?P<grace>\d+) s grace\.",
        "stopped_signal",
    ),
    (
        r"Cut short: the scheduler stopped \(another scheduler took over the lease\) and the run "
        r"did not finish within the (?P<grace>\d+) s grace\.",
        "stopped_takeover",
    ),
    (
        r"The scheduler running it \((?P<host>[^,]+), pid \d+\) stopped before the run "
        r"finished; its outcome is unknown\.",
        "scheduler_lost",
    ),
    (
        r"The scheduler running it \(an unknown process\) stopped before the run finished; its "
        r"outcome is unknown\.",
        "scheduler_lost_unknown",
    ),
    (r"exit code (?P<code>-?\d+)", "exit_code"),
    (r"killed by signal (?P<signal>\w+)", "killed_by_signal"),
    (r"invalid shell settings", "shell_invalid"),
    (r"HTTP (?P<status>\d{3})", "http_status"),
    (r"HTTP (?P<status>\d{3}), expected (?P<expected>[\d, -]+)", "http_unexpected"),
    (
        r"HTTP (?P<status>\d{3}) \(redirect to (?P<location>.+) not followed\), expected "
        r"(?P<expected>[\d, -]+)",
        "http_redirect",
    ),
    (r"connection refused", "http_refused"),
    (r"connection failed: (?P<detail>.+)", "http_connection_failed"),
    (r"the connection closed before the whole response arrived", "http_incomplete"),
    (r"invalid HTTP response: (?P<detail>.+)", "http_invalid_response"),
    (r"invalid HTTP settings", "http_invalid"),
    (r"a secret header cannot be decrypted", "http_secret_unreadable"),
    (r"TLS certificate check failed: (?P<detail>.+)", "tls_certificate"),
    (r"TLS error: (?P<detail>.+)", "tls_error"),
    (r"unexpected error: (?P<type>\w+)", "unexpected_error"),
]
POLICIES = {"Skip missed runs": "skip", "Run once": "once", "Run all (capped)": "all"}
OUTCOMES = {"timed out": "timed_out"}
PATTERNS = [(re.compile(pattern, re.S), code) for pattern, code in OLD_REASONS]


def recognise(text: str) -> tuple[str, dict[str, str]] | None:
    for pattern, code in PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            params = match.groupdict()
            if "policy" in params:
                if params["policy"] not in POLICIES:
                    return None
                params["policy"] = POLICIES[params["policy"]]
            if "outcome" in params:
                params["outcome"] = OUTCOMES.get(params["outcome"], params["outcome"])
            return code, params
    return None


def codes_for_old_reasons(apps, schema_editor):
    Run = apps.get_model("jobs", "Run")
    rows = Run.objects.exclude(reason="").filter(reason_code="").values_list("id", "reason")
    batch = []
    for run_id, text in rows.iterator(chunk_size=2000):
        found = recognise(text)
        if found is not None:
            batch.append(Run(id=run_id, reason_code=found[0], reason_params=found[1]))
        if len(batch) >= 1000:
            Run.objects.bulk_update(batch, ["reason_code", "reason_params"])
            batch = []
    if batch:
        Run.objects.bulk_update(batch, ["reason_code", "reason_params"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0014_live_topics"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="reason_code",
            field=models.CharField(blank=True, db_default="", default="", max_length=40),
        ),
        migrations.AddField(
            model_name="run",
            name="reason_params",
            field=models.JSONField(blank=True, db_default={}, default=dict),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("create", "Created"),
                    ("update", "Changed"),
                    ("delete", "Deleted"),
                    ("pause", "Paused"),
                    ("resume", "Resumed"),
                    ("run_now", "Run now"),
                    ("rerun_failed", "Re-ran failed runs"),
                    ("cancel", "Cancelled"),
                    ("login", "Logged in"),
                    ("login_failed", "Failed login"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(codes_for_old_reasons, migrations.RunPython.noop, elidable=True),
    ]
