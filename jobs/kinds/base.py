"""What every job kind returns to the runner."""

from dataclasses import dataclass

from jobs.run_reasons import Reason


@dataclass(frozen=True)
class KindResult:
    # One of the final jobs.models.Run.State values: succeeded, failed, timed_out or cancelled.
    state: str
    # Short and human, shown in lists: "HTTP 500, expected 200-299", "exit code 2".
    reason: Reason
    # The message and, for unexpected errors, the traceback.
    error: str = ""
    exit_code: int | None = None
    http_status: int | None = None
