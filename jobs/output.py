"""Bounded capture of a run's output: the first and last bytes are kept on disk, the middle counted.

The capture must stay readable when the process writing it is SIGKILLed at any moment (a task
worker killed at its deadline), so nothing important lives only in memory:

- `path` is a directory of its own, created at the first write: a run that prints nothing
  costs no file operation, and reading or removing one run never lists the others.
- `head` holds the first `head_bytes` bytes.
- `tail.<offset>` segments hold the end of the output. `<offset>` is the position of the
  segment's first byte in the whole stream, so the total length is always the newest segment's
  offset plus its size: no counter has to be flushed. A segment holds at most `tail_bytes`; when it
  is full a new one starts and all but the previous one are deleted, so the disk holds at most
  head + 2 * tail bytes however much is written.
- `meta` records the sizes asked for, so a reader trims the tail the way the writer meant.

Every byte goes straight to the file with os.write (no user-space buffer), so the kernel has it
as soon as write_bytes() returns, even if the process dies right after. The one exception: given
secrets to `redact`, the capture holds back the last few bytes of each write (one byte less than
the longest secret) until the next write or close, so a secret split between two writes is still
replaced by the mask before it reaches the disk, the live page or the head/tail cut.
"""

import codecs
import json
import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from django.conf import settings

from jobs.vault import SECRET_MASK

DROPPED_MARKER = "\n… [{dropped} bytes dropped] …\n"
# Unicode continuation bytes look like 0b10xxxxxx; a tail cut inside a character starts with some.
_MAX_CONTINUATION_BYTES = 3


def output_path(run_id: int) -> Path:
    return Path(settings.CRONADMIN_OUTPUT_DIR) / f"run-{run_id}"


class OutputCapture:
    """A file-like sink (text and bytes) usable with contextlib.redirect_stdout."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(
        self, path: Path, head_bytes: int, tail_bytes: int, redact: Iterable[str] = ()
    ) -> None:
        self.path = Path(path)
        self.head_bytes = max(head_bytes, 0)
        self.tail_bytes = max(tail_bytes, 0)
        self.total_bytes = 0
        # Runs may print from several threads; interleaved segment bookkeeping would corrupt it.
        self._lock = threading.Lock()
        self._closed = False
        self._head_fd: int | None = None
        # Segments are tracked here rather than listed: the directory holds every run's files.
        self._segment_fd: int | None = None
        self._segment_path: Path | None = None
        self._segment_offset = 0
        self._segment_size = 0
        self._previous_segment: Path | None = None
        self._redact = sorted({t.encode("utf-8") for t in redact if t}, key=len, reverse=True)
        self._held_back = max(map(len, self._redact), default=1) - 1
        self._pending = b""

    # --- file-like surface ---

    def write(self, text: str) -> int:
        self.write_bytes(text.encode("utf-8", errors="replace"))
        return len(text)

    def write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        with self._lock:
            if self._closed:
                raise ValueError("I/O operation on closed OutputCapture.")
            if self._redact:
                data = self._redacted(bytes(data), final=False)
            self._store(data)

    def _redacted(self, data: bytes, final: bool) -> bytes:
        text = self._pending + data
        for secret in self._redact:
            text = text.replace(secret, SECRET_MASK.encode("utf-8"))
        # No whole secret is left in `text`; one that the next write completes must start in
        # the last len(longest) - 1 bytes, which wait for it.
        cut = len(text) if final else max(len(text) - self._held_back, 0)
        self._pending = text[cut:]
        return text[:cut]

    def _store(self, data: bytes | bytearray | memoryview) -> None:
        if not len(data):
            return
        if self._head_fd is None:
            self._open()
        rest = self._append_head(memoryview(data).cast("B"))
        if len(rest):
            self._append_tail(rest)

    def _open(self) -> None:
        remove_output(self.path)
        self.path.mkdir(parents=True)
        _write_meta(self.path, self.head_bytes, self.tail_bytes)
        self._head_fd = _create(_head_file(self.path))

    def flush(self) -> None:
        # Nothing is buffered: every write already reached the kernel.
        return None

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._pending:
                self._store(self._redacted(b"", final=True))
            self._closed = True
            if self._head_fd is not None:
                os.close(self._head_fd)
            if self._segment_fd is not None:
                os.close(self._segment_fd)

    def __enter__(self) -> "OutputCapture":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- head and tail ---

    def _append_head(self, data: memoryview) -> memoryview:
        room = self.head_bytes - self.total_bytes
        if room <= 0:
            return data
        piece = data[:room]
        assert self._head_fd is not None
        _write_all(self._head_fd, piece)
        self.total_bytes += len(piece)
        return data[len(piece) :]

    def _append_tail(self, data: memoryview) -> None:
        if len(data) > self.tail_bytes:
            # Only the end of this write can survive: skip the rest without touching the disk.
            skipped = len(data) - self.tail_bytes
            self.total_bytes += skipped
            self._start_segment()
            data = data[skipped:]
        while len(data):
            if self._segment_fd is None or self._segment_size >= self.tail_bytes:
                self._start_segment()
            piece = data[: self.tail_bytes - self._segment_size]
            assert self._segment_fd is not None
            _write_all(self._segment_fd, piece)
            self._segment_size += len(piece)
            self.total_bytes += len(piece)
            data = data[len(piece) :]

    def _start_segment(self) -> None:
        # The new segment exists (empty) before older ones go, so a reader always finds the total.
        path = _segment_file(self.path, self.total_bytes)
        fd = _create(path)
        stale = [self._previous_segment]
        if self._segment_fd is not None:
            os.close(self._segment_fd)
            # The segment just filled still holds tail bytes, unless the new one starts after a
            # gap (a write larger than the whole tail).
            if self._segment_offset + self._segment_size == self.total_bytes:
                self._previous_segment = self._segment_path
            else:
                stale.append(self._segment_path)
                self._previous_segment = None
        for old in stale:
            if old is not None:
                _unlink(old)
        self._segment_fd = fd
        self._segment_path = path
        self._segment_offset = self.total_bytes
        self._segment_size = 0


def read_output(path: Path) -> tuple[str, int]:
    """The kept output as text, plus how many bytes in the middle were dropped."""
    path = Path(path)
    head = _read_file(_head_file(path))
    tail_limit = _read_meta(path)
    segments = _segment_sizes(path)
    if not segments:
        return _decode(head), 0
    total = segments[-1][0] + segments[-1][1]
    tail = _read_tail(_contiguous_suffix(segments), tail_limit)
    dropped = total - len(head) - len(tail)
    if dropped <= 0:
        return _decode(head + tail), 0
    text = _decode_head(head) + DROPPED_MARKER.format(dropped=dropped) + _decode_tail(tail)
    return text, dropped


def remove_output(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- files ---


def _head_file(path: Path) -> Path:
    return path / "head"


def _meta_file(path: Path) -> Path:
    return path / "meta"


def _segment_file(path: Path, offset: int) -> Path:
    return path / f"tail.{offset}"


def _segments(path: Path) -> list[tuple[int, Path]]:
    prefix = "tail."
    found: list[tuple[int, Path]] = []
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return []
    for entry in entries:
        suffix = entry.name[len(prefix) :]
        if entry.name.startswith(prefix) and suffix.isdigit():
            found.append((int(suffix), Path(entry.path)))
    return sorted(found)


def _segment_sizes(path: Path) -> list[tuple[int, int, Path]]:
    sized: list[tuple[int, int, Path]] = []
    for offset, segment in _segments(path):
        try:
            sized.append((offset, segment.stat().st_size, segment))
        except FileNotFoundError:
            # Deleted by a live writer between listing and stat: it was no longer needed.
            continue
    return sized


def _contiguous_suffix(segments: list[tuple[int, int, Path]]) -> list[tuple[int, int, Path]]:
    # A writer killed mid-rotation may leave an older segment behind a gap; it is not the tail.
    chain = [segments[-1]]
    for offset, size, segment in reversed(segments[:-1]):
        if offset + size != chain[0][0]:
            break
        chain.insert(0, (offset, size, segment))
    return chain


def _read_tail(chain: list[tuple[int, int, Path]], limit: int | None) -> bytes:
    data = b"".join(_read_file(segment)[:size] for _offset, size, segment in chain)
    if limit is not None:
        data = data[max(len(data) - limit, 0) :]
    return data


def _write_meta(path: Path, head_bytes: int, tail_bytes: int) -> None:
    staging = path / "meta.new"
    staging.write_text(json.dumps({"head_bytes": head_bytes, "tail_bytes": tail_bytes}))
    os.replace(staging, _meta_file(path))


def _read_meta(path: Path) -> int | None:
    # Without it (writer killed before its first byte) the whole last segment chain is shown.
    try:
        return int(json.loads(_meta_file(path).read_text())["tail_bytes"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)


def _write_all(fd: int, data: memoryview) -> None:
    while len(data):
        written = os.write(fd, data)
        data = data[written:]


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# --- decoding ---


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _decode_head(data: bytes) -> str:
    # A character cut by the head limit is left out instead of shown as a replacement mark.
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)


def _decode_tail(data: bytes) -> str:
    start = 0
    while start < min(len(data), _MAX_CONTINUATION_BYTES) and data[start] & 0xC0 == 0x80:
        start += 1
    return _decode(data[start:])
