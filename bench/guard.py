"""What the SSRF guard's allow-list costs a request, by where the target is allowed.

The Allowed hosts table is read at every check that needs it (so a change applies to the next
request without a restart). This measures, on a migrated SQLite file, the guard's decision alone
for a public address, an internal address allowed by CRONADMIN_HTTP_ALLOWED_HOSTS (no query)
and one allowed by the table (one query), then whole http job requests to a local server
allowed either way, and prints medians and the ratio.

Usage: CRONADMIN_DEV=1 python -m bench.guard [--checks 5000] [--requests 300] [--entries 50]
"""

import argparse
import ipaddress
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.pages import prepared_database, remove_database

# The target runs in a process of its own, as a real one would: in this process its threads
# would compete for the GIL with the request being measured.
SERVER = """
import http.server, sys
class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def time_checks(host: str, address: str, count: int) -> list[float]:
    from jobs.kinds.ssrf import checked_address

    answers = [ipaddress.ip_address(address)]
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        checked_address(host, answers)
        samples.append(time.perf_counter() - began)
    return samples


def time_requests(url: str, count: int, tmp: Path) -> list[float]:
    from jobs.kinds import http
    from jobs.output import OutputCapture

    samples = []
    for index in range(count):
        capture = OutputCapture(tmp / f"run-{index}", head_bytes=1024, tail_bytes=1024)
        began = time.perf_counter()
        result = http.execute(
            {"method": "GET", "url": url},
            deadline_seconds=5,
            idempotency_key=f"bench-{index}",
            output=capture,
            cancel=threading.Event(),
        )
        samples.append(time.perf_counter() - began)
        capture.close()
        assert result.state == "succeeded", result
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--entries", type=int, default=50, help="rows in the Allowed hosts table")
    args = parser.parse_args()

    database = prepared_database("cronadmin-guard-")
    from django.conf import settings

    from jobs.models import AllowedHost

    AllowedHost.objects.bulk_create(
        AllowedHost(host=f"10.{i}.0.0/16", note="bench") for i in range(1, args.entries)
    )
    AllowedHost.objects.create(host="127.0.0.0/8", note="bench")
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = f"http://127.0.0.1:{server.stdout.readline().strip()}/"
    rows = []
    try:
        settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []
        public = time_checks("example.com", "93.184.215.14", args.checks)
        table = time_checks("10.7.0.1", "10.7.0.1", args.checks)
        settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["10.7.0.0/16", "127.0.0.1"]
        setting = time_checks("10.7.0.1", "10.7.0.1", args.checks)
        rows += [
            ("decision: public address", public),
            ("decision: allowed by the setting", setting),
            (f"decision: allowed by the table ({args.entries} rows)", table),
        ]
        by_setting: list[float] = []
        by_table: list[float] = []
        # Interleaved in small batches, so a busy moment of the machine hits both alike.
        with tempfile.TemporaryDirectory(prefix="cronadmin-guard-output-") as output:
            for _ in range(max(args.requests // 10, 1)):
                settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
                by_setting += time_requests(url, 10, Path(output))
                settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []
                by_table += time_requests(url, 10, Path(output))
        rows += [
            ("request to 127.0.0.1: allowed by the setting", by_setting),
            ("request to 127.0.0.1: allowed by the table", by_table),
        ]
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{'what':<52} {'median':>12} {'p95':>12}")
    for label, samples in rows:
        p95 = statistics.quantiles(samples, n=20)[-1] * 1e6
        print(f"{label:<52} {median_us(samples):>9.1f} µs {p95:>9.1f} µs")
    ratio = statistics.median(by_table) / statistics.median(by_setting)
    print(f"whole request, table / setting: {ratio:.2f}x")
    remove_database(database)


if __name__ == "__main__":
    main()
