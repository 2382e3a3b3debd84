import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.output import OutputCapture, output_path, read_output, remove_output

LINE = 9  # "%08d\n"


def disk_usage(directory: Path) -> int:
    return sum(entry.stat().st_size for entry in directory.rglob("*") if entry.is_file())


def test_it_keeps_everything_below_the_limits(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=100, tail_bytes=100) as capture:
        capture.write("hello\n")
        capture.write_bytes(b"world\n")

    assert read_output(tmp_path / "run") == ("hello\nworld\n", 0)


def test_it_keeps_head_and_tail_and_counts_the_rest(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=10, tail_bytes=10) as capture:
        capture.write("0123456789")
        capture.write("abcdefghijklmnop")
        capture.write("qrstuvwxyz")

    text, dropped = read_output(tmp_path / "run")

    assert dropped == 16
    assert text == "0123456789\n… [16 bytes dropped] …\nqrstuvwxyz"


def test_it_keeps_the_tail_across_small_writes(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=4, tail_bytes=7) as capture:
        for number in range(1000):
            capture.write(f"{number},")

    text, dropped = read_output(tmp_path / "run")

    stream = "".join(f"{number}," for number in range(1000))
    assert text == stream[:4] + f"\n… [{len(stream) - 11} bytes dropped] …\n" + stream[-7:]
    assert dropped == len(stream) - 11


def test_it_works_with_redirect_stdout(tmp_path: Path) -> None:
    capture = OutputCapture(tmp_path / "run", head_bytes=100, tail_bytes=100)
    with contextlib.redirect_stdout(capture):
        print("from print")
    capture.close()

    assert read_output(tmp_path / "run") == ("from print\n", 0)


def test_it_does_not_show_characters_cut_in_half(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=5, tail_bytes=5) as capture:
        capture.write("é" * 20)

    text, dropped = read_output(tmp_path / "run")

    assert text == "éé\n… [30 bytes dropped] …\néé"
    assert dropped == 30


def test_it_replaces_invalid_utf8(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=100, tail_bytes=100) as capture:
        capture.write_bytes(b"ok \xff\xfe")

    assert read_output(tmp_path / "run") == ("ok \ufffd\ufffd", 0)


def test_it_handles_zero_limits(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=0, tail_bytes=0) as capture:
        capture.write("x" * 50)
        capture.write("y" * 50)

    assert read_output(tmp_path / "run") == ("\n… [100 bytes dropped] …\n", 100)


def test_it_stays_bounded_on_disk(tmp_path: Path) -> None:
    head, tail = 32_768, 32_768
    chunk = b"0123456789abcdef" * 512 + b"z"  # an odd size, so segments fill unevenly
    written = 0
    largest = 0
    with OutputCapture(tmp_path / "run", head_bytes=head, tail_bytes=tail) as capture:
        while written < 50_000_000:
            capture.write_bytes(chunk)
            written += len(chunk)
            if written % (len(chunk) * 97) == 0:
                largest = max(largest, disk_usage(tmp_path))

    largest = max(largest, disk_usage(tmp_path))
    text, dropped = read_output(tmp_path / "run")

    assert largest < head + 3 * tail
    assert dropped == written - head - tail
    assert text.endswith((chunk * 5).decode()[-tail:])


def test_it_skips_a_huge_single_write_without_storing_it(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=10, tail_bytes=10) as capture:
        capture.write_bytes(b"a" * 10 + b"b" * 5_000_000 + b"c" * 10)

    assert disk_usage(tmp_path) < 100
    assert read_output(tmp_path / "run") == (
        "a" * 10 + "\n… [5000000 bytes dropped] …\n" + "c" * 10,
        5_000_000,
    )


WRITER = """
import sys
from pathlib import Path
from jobs.output import OutputCapture

capture = OutputCapture(Path(sys.argv[1]), head_bytes=int(sys.argv[2]), tail_bytes=int(sys.argv[3]))
number = 0
while True:
    capture.write("%08d\\n" % number)
    number += 1
    if number == 20000:
        print("ready", flush=True)
"""


@pytest.mark.parametrize("tail_bytes", [90, 1000, 4096])
def test_it_reads_output_after_the_writer_was_killed(tmp_path: Path, tail_bytes: int) -> None:
    head_bytes = 45
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "run"), str(head_bytes), str(tail_bytes)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == b"ready\n"
    time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()

    text, dropped = read_output(tmp_path / "run")

    head, marker, tail = text.partition(f"\n… [{dropped} bytes dropped] …\n")
    total = head_bytes + dropped + len(tail)
    # The writer's stream is predictable, so the kept bytes must be exactly its first and last
    # bytes up to the total that the files account for.
    stream = "".join(f"{number:08d}\n" for number in range(total // LINE + 1))[:total]
    assert marker
    assert len(tail) == tail_bytes
    assert head == stream[:head_bytes]
    assert tail == stream[-tail_bytes:]
    assert total >= 20_000 * LINE


def test_remove_output_deletes_the_files(tmp_path: Path) -> None:
    with OutputCapture(tmp_path / "run", head_bytes=5, tail_bytes=5) as capture:
        capture.write("x" * 100)

    remove_output(tmp_path / "run")

    assert os.listdir(tmp_path) == []
    assert read_output(tmp_path / "run") == ("", 0)


def test_output_path_is_created_at_the_first_write(tmp_path: Path, settings) -> None:
    settings.CRONADMIN_OUTPUT_DIR = tmp_path / "deep" / "output"

    path = output_path(42)
    capture = OutputCapture(path, head_bytes=5, tail_bytes=5)
    capture.write("")
    assert path == tmp_path / "deep" / "output" / "run-42"
    assert not path.exists()
    assert read_output(path) == ("", 0)

    capture.write("hi")
    capture.close()
    assert path.is_dir()
    assert read_output(path) == ("hi", 0)


def test_it_refuses_writes_after_close(tmp_path: Path) -> None:
    capture = OutputCapture(tmp_path / "run", head_bytes=5, tail_bytes=5)
    capture.close()

    with pytest.raises(ValueError):
        capture.write("late")


def test_secrets_are_masked_even_when_split_between_writes(tmp_path: Path) -> None:
    secret = "tok-5f3a9c1e77"
    with OutputCapture(tmp_path / "run", 1000, 1000, redact=[secret, "Bearer " + secret]) as out:
        out.write("sent Bearer tok-5f")
        out.write_bytes(b"3a9c1e77, echoed tok-5f3a")
        # Held back while the secret may still be completed: never on disk in part.
        assert "tok-5f3a" not in read_output(tmp_path / "run")[0]
        out.write("9c1e77 and tok-5 alone")

    assert read_output(tmp_path / "run") == ("sent ••••••, echoed •••••• and tok-5 alone", 0)


def test_a_secret_is_masked_before_the_head_and_tail_cut(tmp_path: Path) -> None:
    with OutputCapture(
        tmp_path / "run", head_bytes=10, tail_bytes=10, redact=["s3cret-value"]
    ) as out:
        out.write("1234s3cret-value" + "x" * 50 + "s3cret-value")

    text, _dropped = read_output(tmp_path / "run")
    assert "s3cr" not in text and "value" not in text
