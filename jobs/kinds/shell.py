"""The shell job kind: `/bin/sh -c <command>` in its own process group, stopped for real.

Everything the command starts shares its process group (start_new_session), so a timeout or a
cancel reaches the whole tree: SIGTERM first, SIGKILL after TERM_GRACE_SECONDS. The group is also
killed after a normal exit, so `sleep 100 & exit 0` leaves nothing running. A process that moves
itself to another session (setsid, daemonising tools) escapes; containing those needs cgroups.

The shell's exit is detected with waitid(WNOWAIT), which leaves it a zombie until the group has
been killed: while it is unreaped its pid, which is the group id, cannot be reused, so killpg()
can never hit an unrelated group.
"""

import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any

import psutil
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from jobs.kinds.base import KindResult
from jobs.models import Run
from jobs.output import OutputCapture
from jobs.run_reasons import reason

SHELL = "/bin/sh"
# Time between SIGTERM and SIGKILL for a command stopped by its deadline or a cancel.
TERM_GRACE_SECONDS = 3.0
# How long output written before the end may still be collected from the pipe; a process that
# escaped the group could hold it open forever.
DRAIN_SECONDS = 1.0
POLL_SECONDS = 0.05
CHUNK_BYTES = 65_536
# Kernel limit for one argument (MAX_ARG_STRLEN is 128 KiB); longer commands could not start.
MAX_COMMAND_LENGTH = 100_000
# The only variables a command inherits: never SECRET_KEY, DATABASE_URL or other product settings.
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ")


def clean_config(config: dict[str, Any]) -> dict[str, Any]:
    if not settings.CRONADMIN_ALLOW_SHELL_JOBS:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: ValidationError(
                    _("Shell jobs are disabled on this server (CRONADMIN_ALLOW_SHELL_JOBS)."),
                    code="shell_disabled",
                )
            }
        )
    if not isinstance(config, dict):
        raise ValidationError(_("Shell settings must be an object."), code="invalid")
    errors: dict[str, ValidationError] = {}
    command = config.get("command")
    if not isinstance(command, str) or not command.strip():
        errors["command"] = ValidationError(_("Enter the command to run."), code="required")
    elif "\0" in command:
        errors["command"] = ValidationError(
            _("The command must not contain NUL characters."), code="invalid_command"
        )
    elif len(command) > MAX_COMMAND_LENGTH:
        errors["command"] = ValidationError(
            _("The command is longer than %(limit)d characters."),
            code="too_long",
            params={"limit": MAX_COMMAND_LENGTH},
        )
    unknown = sorted(str(name) for name in config if name != "command")
    if unknown:
        errors[NON_FIELD_ERRORS] = ValidationError(
            _("Unknown shell settings: %(names)s."),
            code="unknown_setting",
            params={"names": ", ".join(unknown)},
        )
    if errors:
        raise ValidationError(errors)
    return {"command": command}


def execute(
    config: dict[str, Any],
    *,
    deadline_seconds: float,
    output: OutputCapture,
    cancel: threading.Event,
    env_extra: dict[str, str] | None = None,
) -> KindResult:
    try:
        command = clean_config(config)["command"]
    except ValidationError as exc:
        return KindResult(Run.State.FAILED, reason("shell_invalid"), error="; ".join(exc.messages))
    deadline = time.monotonic() + deadline_seconds
    # A process that escaped the group may still write there; that must not fail the run.
    with tempfile.TemporaryDirectory(
        prefix="cronadmin-shell-", ignore_cleanup_errors=True
    ) as workdir:
        try:
            process = _start(command, workdir, env_extra)
        except OSError as exc:
            return KindResult(
                Run.State.FAILED, reason("shell_not_started", shell=SHELL), error=str(exc)
            )
        pipe = _Pipe(process, output)
        stopped_by: str | None = None
        try:
            stopped_by = _run_until_exit(process, pipe, deadline, cancel)
        finally:
            # Also on an unexpected error (disk full while capturing): never leave the group.
            _end_group(process, pipe, terminate=stopped_by is not None)
            pipe.drain(DRAIN_SECONDS)
            pipe.close()
    return _result(process.returncode, stopped_by, deadline_seconds)


def _start(command: str, workdir: str, env_extra: dict[str, str] | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [SHELL, "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env=_environment(workdir, env_extra),
        start_new_session=True,
    )


def _environment(home: str, env_extra: dict[str, str] | None) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env["HOME"] = home
    env.update(env_extra or {})
    return env


class _Pipe:
    """The command's merged stdout and stderr, copied chunk by chunk into the capture."""

    def __init__(self, process: subprocess.Popen[bytes], output: OutputCapture) -> None:
        assert process.stdout is not None
        self.stream = process.stdout
        self.fd = process.stdout.fileno()
        self.output = output
        self.eof = False
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)

    def copy(self, timeout: float) -> None:
        """Copy one chunk if some arrives within `timeout` seconds."""
        if self.eof:
            time.sleep(max(timeout, 0))
            return
        if self.poller.poll(max(timeout, 0) * 1000):
            chunk = os.read(self.fd, CHUNK_BYTES)
            if chunk:
                self.output.write_bytes(chunk)
            else:
                self.eof = True

    def drain(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while not self.eof and time.monotonic() < until:
            self.copy(until - time.monotonic())

    def close(self) -> None:
        self.stream.close()


def _run_until_exit(
    process: subprocess.Popen[bytes], pipe: _Pipe, deadline: float, cancel: threading.Event
) -> str | None:
    """Copy output until the shell exits (None) or must stop (the run state to report)."""
    while True:
        if cancel.is_set():
            return Run.State.CANCELLED
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Run.State.TIMED_OUT
        if _has_exited(process):
            return None
        pipe.copy(min(remaining, POLL_SECONDS))


def _has_exited(process: subprocess.Popen[bytes]) -> bool:
    # WNOWAIT leaves the shell unreaped, which keeps its group id reserved (see module doc).
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    try:
        return os.waitid(os.P_PID, process.pid, flags) is not None
    except ChildProcessError:
        return True  # Reaped elsewhere (os.wait in another thread): gone all the same.


def _end_group(process: subprocess.Popen[bytes], pipe: _Pipe, *, terminate: bool) -> None:
    group = process.pid
    if terminate:
        _signal_group(group, signal.SIGTERM)
        until = time.monotonic() + TERM_GRACE_SECONDS
        while time.monotonic() < until and _group_alive(group):
            # Keep reading: a process writing while it shuts down must not block on a full pipe.
            pipe.copy(POLL_SECONDS)
    _signal_group(group, signal.SIGKILL)
    process.wait()


def _signal_group(group: int, signum: signal.Signals) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass


def _group_alive(group: int) -> bool:
    """Whether any process of the group still runs; zombies (dead, unreaped) do not count."""
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == group and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def _result(returncode: int, stopped_by: str | None, deadline_seconds: float) -> KindResult:
    if stopped_by == Run.State.CANCELLED:
        return KindResult(Run.State.CANCELLED, reason("cancelled"), exit_code=returncode)
    if stopped_by == Run.State.TIMED_OUT:
        why = reason("timed_out", seconds=f"{deadline_seconds:g}")
        return KindResult(Run.State.TIMED_OUT, why, exit_code=returncode)
    if returncode == 0:
        return KindResult(Run.State.SUCCEEDED, reason("exit_code", code=0), exit_code=0)
    if returncode < 0:
        # Popen reports death by a signal as minus the signal number.
        name = _signal_name(-returncode)
        why = reason("killed_by_signal", signal=name)
        return KindResult(Run.State.FAILED, why, exit_code=returncode)
    return KindResult(Run.State.FAILED, reason("exit_code", code=returncode), exit_code=returncode)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
