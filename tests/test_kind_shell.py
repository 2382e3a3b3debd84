import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from jobs.kinds import shell
from jobs.kinds.base import KindResult
from jobs.output import OutputCapture, read_output


@pytest.fixture(autouse=True)
def shell_enabled(settings) -> None:
    settings.CRONADMIN_ALLOW_SHELL_JOBS = True


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[OutputCapture]:
    capture = OutputCapture(tmp_path / "run", head_bytes=4096, tail_bytes=4096)
    yield capture
    capture.close()


@pytest.fixture
def marker() -> str:
    """A sleep duration no other process has on its command line, to find leftovers by."""
    return str(10**9 + uuid.uuid4().int % 10**9)


def run(
    command: str,
    capture: OutputCapture,
    *,
    deadline: float = 10.0,
    cancel: threading.Event | None = None,
    env_extra: dict[str, str] | None = None,
) -> KindResult:
    return shell.execute(
        {"command": command},
        deadline_seconds=deadline,
        output=capture,
        cancel=cancel or threading.Event(),
        env_extra=env_extra,
    )


def survivors(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue  # Dead already; only the reaper (PID 1 here) has not collected it.
        if any(marker in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def output_of(capture: OutputCapture) -> str:
    return read_output(capture.path)[0]


def test_it_captures_output_and_exit_code(capture: OutputCapture) -> None:
    result = run("echo hello; echo oops >&2", capture)

    assert result.state == "succeeded"
    assert result.reason.english == "exit code 0"
    assert result.exit_code == 0
    assert output_of(capture) == "hello\noops\n"


def test_it_fails_on_a_non_zero_exit(capture: OutputCapture) -> None:
    result = run("echo about to fail; exit 3", capture)

    assert result.state == "failed"
    assert result.reason.english == "exit code 3"
    assert result.exit_code == 3
    assert output_of(capture) == "about to fail\n"


def test_it_fails_when_killed_by_a_signal(capture: OutputCapture) -> None:
    result = run("kill -9 $$", capture)

    assert result.state == "failed"
    assert result.reason.english == "killed by signal SIGKILL"
    assert result.exit_code == -9


def test_it_runs_in_a_temporary_directory(capture: OutputCapture) -> None:
    result = run('pwd; echo "$HOME"', capture)

    workdir, home = output_of(capture).splitlines()
    assert result.state == "succeeded"
    assert workdir == home
    assert "cronadmin-shell-" in workdir
    assert not Path(workdir).exists()


def test_it_times_out_and_kills_the_group(capture: OutputCapture, marker: str) -> None:
    started = time.monotonic()
    result = run(f"sleep {marker}; echo never", capture, deadline=1.0)

    assert result.state == "timed_out"
    assert result.reason.english == "timed out after 1 s"
    # Well inside the grace: the group died of SIGTERM and was not waited on any longer.
    assert time.monotonic() - started < 1.6
    assert survivors(marker) == []
    assert "never" not in output_of(capture)


def test_it_kills_what_ignores_sigterm_after_the_grace(
    capture: OutputCapture, marker: str, monkeypatch
) -> None:
    monkeypatch.setattr(shell, "TERM_GRACE_SECONDS", 0.5)

    started = time.monotonic()
    result = run(f"trap '' TERM; sleep {marker}; sleep {marker}", capture, deadline=0.5)

    assert result.state == "timed_out"
    assert 0.9 < time.monotonic() - started < 2.0
    assert survivors(marker) == []


def test_it_leaves_no_forked_child_behind(capture: OutputCapture, marker: str) -> None:
    started = time.monotonic()
    result = run(f"(sleep {marker} &) ; sleep {marker} & echo hi", capture)

    assert result.state == "succeeded"
    assert output_of(capture) == "hi\n"
    assert time.monotonic() - started < 1.5
    assert survivors(marker) == []


def test_it_stops_on_cancel(capture: OutputCapture, marker: str) -> None:
    cancel = threading.Event()
    results: list[KindResult] = []
    worker = threading.Thread(
        target=lambda: results.append(
            run(f"echo started; sleep {marker}", capture, deadline=60, cancel=cancel)
        )
    )
    worker.start()
    time.sleep(0.3)

    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(10)

    assert results[0].state == "cancelled"
    assert results[0].reason.english == "cancelled"
    assert time.monotonic() - cancelled_at < 1.0
    assert output_of(capture) == "started\n"
    assert survivors(marker) == []


def test_it_filters_the_environment(capture: OutputCapture, monkeypatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "do-not-leak-this")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:hunter2@db/prod")
    monkeypatch.setenv("TZ", "Europe/Paris")

    result = run("env", capture, env_extra={"CRONADMIN_RUN_ID": "17"})

    lines = output_of(capture).splitlines()
    names = {line.split("=", 1)[0] for line in lines}
    assert result.state == "succeeded"
    assert "do-not-leak-this" not in output_of(capture)
    assert "hunter2" not in output_of(capture)
    assert "TZ=Europe/Paris" in lines
    assert "CRONADMIN_RUN_ID=17" in lines
    # dash adds PWD (and may add OLDPWD) itself; nothing else may come from this process.
    assert names - {"PWD", "OLDPWD"} <= {"PATH", "LANG", "LC_ALL", "TZ", "HOME", "CRONADMIN_RUN_ID"}


def test_it_keeps_huge_output_bounded(capture: OutputCapture, tmp_path: Path) -> None:
    result = run("yes | head -c 20000000", capture)

    text, dropped = read_output(capture.path)
    disk = sum(entry.stat().st_size for entry in tmp_path.iterdir())
    assert result.state == "succeeded"
    assert dropped == 20_000_000 - 2 * 4096
    assert text.startswith("y\ny\n") and text.endswith("y\ny\n")
    assert disk < 4096 + 3 * 4096 + 1024


def test_it_reads_output_of_a_command_that_is_still_writing(capture: OutputCapture) -> None:
    # The pipe must be read while the command runs, or it would block on a full pipe.
    result = run("head -c 1000000 /dev/zero | tr '\\0' a; echo; echo done", capture)

    assert result.state == "succeeded"
    assert output_of(capture).endswith("a\ndone\n")


def test_clean_config_accepts_a_command() -> None:
    assert shell.clean_config({"command": "echo hi"}) == {"command": "echo hi"}


@pytest.mark.parametrize(
    ("config", "field", "code"),
    [
        ({}, "command", "required"),
        ({"command": "   "}, "command", "required"),
        ({"command": ["ls"]}, "command", "required"),
        ({"command": "echo \0"}, "command", "invalid_command"),
        ({"command": "x" * 100_001}, "command", "too_long"),
        ({"command": "ls", "shell": "bash"}, NON_FIELD_ERRORS, "unknown_setting"),
    ],
)
def test_clean_config_rejects_bad_settings(config: dict, field: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        shell.clean_config(config)

    assert [error.code for error in caught.value.error_dict[field]] == [code]


def test_clean_config_refuses_when_shell_jobs_are_disabled(settings) -> None:
    settings.CRONADMIN_ALLOW_SHELL_JOBS = False

    with pytest.raises(ValidationError) as caught:
        shell.clean_config({"command": "echo hi"})

    [error] = caught.value.error_dict[NON_FIELD_ERRORS]
    assert error.code == "shell_disabled"
    assert error.messages == [
        "Shell jobs are disabled on this server (CRONADMIN_ALLOW_SHELL_JOBS)."
    ]


def test_it_does_not_run_when_shell_jobs_are_disabled(
    settings, capture: OutputCapture, tmp_path: Path
) -> None:
    settings.CRONADMIN_ALLOW_SHELL_JOBS = False

    result = run(f"touch {tmp_path / 'ran'}", capture)

    assert result.state == "failed"
    assert result.reason.english == "invalid shell settings"
    assert not (tmp_path / "ran").exists()
