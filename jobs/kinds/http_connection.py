"""Connections for http jobs that end on time: pinned to the checked address, guarded by a thread.

A server can trickle bytes forever, so per-read socket timeouts alone cannot enforce a total
deadline; the guard thread shuts the socket down at the deadline or on cancel, which makes any
blocked read or send return at once.
"""

import errno
import http.client
import os
import queue
import select
import socket
import ssl
import threading
import time

from jobs.kinds.ssrf import IPAddress, checked_address, resolve
from jobs.models import Run

# How often waits wake up to look at the clock and the cancel flag.
POLL_SECONDS = 0.05


class Interrupted(Exception):
    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class Guard(threading.Thread):
    """Ends the request at its deadline or on cancel by shutting its socket down."""

    def __init__(self, cancel: threading.Event, deadline: float) -> None:
        super().__init__(daemon=True, name="http-job-guard")
        self.cancel = cancel
        self.deadline = deadline
        self.state: str | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        # A duplicate of the socket's descriptor: shutdown(2) on it ends the connection for
        # every descriptor, and it stays valid while TLS wrapping detaches the original object.
        self._handle: socket.socket | None = None

    def run(self) -> None:
        while not self._finished.is_set():
            remaining = self.remaining()
            if remaining <= 0:
                self._fire(Run.State.TIMED_OUT)
            elif self.cancel.wait(min(remaining, POLL_SECONDS)):
                self._fire(Run.State.CANCELLED)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
            self._handle = sock.dup()
            if self.state is not None:
                _shutdown(self._handle)

    def check(self) -> None:
        if self.cancel.is_set():
            self._fire(Run.State.CANCELLED)
        elif self.remaining() <= 0:
            self._fire(Run.State.TIMED_OUT)
        if self.state is not None:
            raise Interrupted(self.state)

    def step_timeout(self, cap: float | None = None) -> float:
        """Seconds the next blocking step may take; raises once the run must stop."""
        self.check()
        remaining = self.remaining()
        return min(remaining, cap) if cap is not None else remaining

    def finish(self) -> str | None:
        """Stop guarding; returns the state if the guard ended the request."""
        with self._lock:
            self._finished.set()
            if self._handle is not None:
                self._handle.close()
                self._handle = None
            return self.state

    def _fire(self, state: str) -> None:
        with self._lock:
            if self._finished.is_set() or self.state is not None:
                return
            self.state = state
            if self._handle is not None:
                _shutdown(self._handle)
        self._finished.set()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # Not connected yet or already closed: nothing left to interrupt.


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the host from the URL."""

    def __init__(self, host: str, port: int, *, address: IPAddress, guard: Guard) -> None:
        super().__init__(host, port)
        self.address = address
        self.guard = guard
        # http.client hands `sock` to the response and forgets it; timeouts still need it.
        self.live_socket: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.live_socket = open_socket(self.address, self.port, self.guard)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Like PinnedHTTPConnection; TLS SNI and the certificate check use the URL's host name."""

    def __init__(self, host: str, port: int, *, address: IPAddress, guard: Guard) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, context=self.tls)
        self.address = address
        self.guard = guard
        self.live_socket: socket.socket | None = None

    def connect(self) -> None:
        sock = open_socket(self.address, self.port, self.guard)
        try:
            self.sock = self.live_socket = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def open_socket(address: IPAddress, port: int, guard: Guard) -> socket.socket:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        guard.attach(sock)
        # A non-blocking connect polled in short steps can be abandoned on cancel; a blocking
        # one cannot be interrupted from another thread.
        sock.setblocking(False)
        error = sock.connect_ex((str(address), port))
        if error not in (0, errno.EINPROGRESS):
            raise OSError(error, os.strerror(error))
        if error:
            wait_connected(sock, guard)
        sock.settimeout(guard.step_timeout())
        return sock
    except BaseException:
        sock.close()
        raise


def wait_connected(sock: socket.socket, guard: Guard) -> None:
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    while not poller.poll(guard.step_timeout(POLL_SECONDS) * 1000):
        pass
    guard.check()
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


def resolve_in_time(host: str, port: int, guard: Guard) -> IPAddress:
    # getaddrinfo cannot be interrupted, so it runs aside while this thread watches the clock.
    # The check stays in this thread: it may read the allow-list, and a database connection
    # opened by a short-lived thread would never be closed.
    answer: queue.SimpleQueue[list[IPAddress] | BaseException] = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answer.put(resolve(host, port))
        except BaseException as exc:
            answer.put(exc)

    threading.Thread(target=lookup, daemon=True, name="http-job-resolve").start()
    while True:
        try:
            result = answer.get(timeout=guard.step_timeout(POLL_SECONDS))
        except queue.Empty:
            continue
        if isinstance(result, BaseException):
            raise result
        return checked_address(host, result)
