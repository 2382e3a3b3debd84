"""Two schedulers on PostgreSQL while the leader is killed and frozen: nothing lost, nothing twice.

Three minutes of 20 webhook jobs every 2 s. The leader is SIGKILLed every 45 s and, once, frozen
with SIGSTOP for twice the lease time; a killed scheduler is started again at once, as a
supervisor would. A local HTTP sink counts deliveries per Idempotency-Key.
"""

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from tests.conftest import ROOT, wait_for

pytestmark = [pytest.mark.timeout(420), pytest.mark.own_database]

JOBS = 20
DURATION = 180
KILL_EVERY = 45
HEARTBEAT = 2.0  # the production default: a lease of 10 s
LEASE = HEARTBEAT * 5


class Sink(ThreadingHTTPServer):
    daemon_threads = True
    # All 20 jobs fire in the same instant: the default backlog of 5 would reset connections.
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.deliveries: Counter[str] = Counter()
        self.lock = threading.Lock()


class SinkHandler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.deliveries[self.headers["Idempotency-Key"]] += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Cluster:
    """The scheduler processes, restarted when killed, with the moments of each fault."""

    def __init__(self, env: dict[str, str], tmp_path, db: psycopg.Connection) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.db = db
        self.processes: list[subprocess.Popen] = []
        self.takeovers: list[float] = []

    def start(self) -> subprocess.Popen:
        log = open(self.tmp_path / f"scheduler-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def leader(self) -> tuple[int, int] | None:
        return self.db.execute(
            "SELECT n.pid, l.term FROM jobs_schedulerlease l "
            "JOIN jobs_schedulernode n ON n.id = l.holder_id WHERE l.expires_at > now()"
        ).fetchone()

    def leader_process(self) -> subprocess.Popen:
        pid = wait_for(lambda: (self.leader() or (None,))[0], timeout=30)
        return next(p for p in self.processes if p.pid == pid)

    def wait_for_new_leader(self, old_term: int, since: float) -> None:
        wait_for(lambda: (self.leader() or (0, 0))[1] > old_term, timeout=60)
        self.takeovers.append(time.monotonic() - since)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:]
            for path in sorted(self.tmp_path.glob("scheduler-*.log"))
        )


def test_no_run_is_lost_or_duplicated_while_leaders_die(postgres_database, tmp_path):
    url, env = postgres_database
    env = {
        **env,
        "CRONADMIN_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "CRONADMIN_POLL_SECONDS": "0.25",
        "CRONADMIN_HTTP_ALLOWED_HOSTS": "127.0.0.1",
        "CRONADMIN_SHUTDOWN_GRACE_SECONDS": "5",
    }
    sink = Sink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sink_url = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    create = (
        "from jobs import services\n"
        f"for i in range({JOBS}):\n"
        "    services.job_create(actor=None, name=f'hook {i}', kind='http', "
        # Overlap is allowed: a run slowed down by a busy machine must not hide a failover skip.
        f"schedule='@every 2s', overlap='allow', max_concurrent=5, "
        f"config={{'method': 'POST', 'url': {sink_url!r}, "
        "'body': '{}', 'headers': {'Content-Type': 'application/json'}})\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", create], cwd=ROOT, env=env, check=True
    )
    db = psycopg.connect(url, autocommit=True)
    cluster = Cluster(env, tmp_path, db)
    try:
        cluster.start()
        wait_for(cluster.leader, timeout=30)
        cluster.start()
        started = time.monotonic()
        frozen_term = None

        def at(offset: float) -> None:
            time.sleep(max(0.0, started + offset - time.monotonic()))

        for moment in range(KILL_EVERY, DURATION, KILL_EVERY):
            at(moment)
            victim = cluster.leader_process()
            term = cluster.leader()[1]
            victim.kill()
            killed_at = time.monotonic()
            victim.wait(timeout=10)
            cluster.start()
            cluster.wait_for_new_leader(term, killed_at)
            if frozen_term is None:
                # Once, between two kills: freeze the new leader for twice the lease.
                at(moment + KILL_EVERY / 2)
                frozen = cluster.leader_process()
                frozen_term = cluster.leader()[1]
                frozen.send_signal(signal.SIGSTOP)
                stopped_at = time.monotonic()
                cluster.wait_for_new_leader(frozen_term, stopped_at)
                time.sleep(max(0.0, stopped_at + 2 * LEASE - time.monotonic()))
                frozen.send_signal(signal.SIGCONT)
                thawed_at = datetime.now(UTC)
                # It finds itself fenced and stops without writing anything more.
                assert frozen.wait(timeout=60) != 0, cluster.logs()
                cluster.start()
        at(DURATION)
        end = datetime.now(UTC)
        for process in cluster.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in cluster.processes:
            process.wait(timeout=60)
    finally:
        for process in cluster.processes:
            if process.poll() is None:
                process.kill()
        sink.shutdown()

    logs = cluster.logs()
    # A standby took over within 15 s every time (the lease is 10 s, judged by the database).
    assert len(cluster.takeovers) == 4, logs
    assert max(cluster.takeovers) < 15, (cluster.takeovers, logs)
    assert "another scheduler took over the lease" in logs

    runs = db.execute(
        "SELECT id, job_id, scheduled_for, state, reason, term, node_id, finished_at, trigger "
        "FROM jobs_run ORDER BY job_id, scheduled_for"
    ).fetchall()
    by_slot = Counter((r[1], r[2]) for r in runs if r[8] == "schedule")
    assert [slot for slot, n in by_slot.items() if n > 1] == []
    assert {r[8] for r in runs} == {"schedule"}

    # Deliveries: never two for one run, one for every run that succeeded, none for runs that
    # were never started; an interrupted run may or may not have delivered (at most once).
    key_of = {r[0]: f"cronadmin-run-{r[0]}" for r in runs}
    assert max(sink.deliveries.values()) == 1, sink.deliveries.most_common(3)
    assert set(sink.deliveries) <= set(key_of.values())
    for run_id, _job, _slot, state, reason, *_ in runs:
        delivered = sink.deliveries[key_of[run_id]]
        if state == "succeeded":
            assert delivered == 1, (run_id, state)
        elif state in ("missed", "skipped"):
            assert delivered == 0, (run_id, state, reason)
        else:
            assert state == "interrupted", (run_id, state, reason)
            assert "stopped before the run finished" in reason or "Cut short" in reason

    # Every slot of every job from its first to the end is accounted for.
    anchors = dict(db.execute("SELECT id, schedule_anchor FROM jobs_job").fetchall())
    states = Counter(r[3] for r in runs)
    # Failover slots are the misfire policy's (run once): never skipped as overlapping.
    assert states["skipped"] == 0, Counter(r[4] for r in runs if r[3] == "skipped")
    for job_id, anchor in anchors.items():
        recorded = {r[2] for r in runs if r[1] == job_id}
        first = min(recorded)
        expected = set()
        slot = first
        while slot <= end - timedelta(seconds=3):
            expected.add(slot)
            slot += timedelta(seconds=2)
        assert expected - recorded == set(), (job_id, sorted(expected - recorded)[:5])
        assert (first - anchor).total_seconds() % 2 == 0
    for _id, _job, _slot, state, reason, *_ in runs:
        if state == "missed":
            assert "scheduler" in reason, reason

    # One node per term: no two leaders ever acted in the same term, and nothing was written in
    # the frozen leader's term after it woke up.
    per_term = db.execute(
        "SELECT term, count(DISTINCT node_id) FROM jobs_run GROUP BY term "
        "HAVING count(DISTINCT node_id) > 1"
    ).fetchall()
    assert per_term == []
    late = db.execute(
        "SELECT count(*) FROM jobs_run WHERE term = %s AND (created_at > %s OR "
        "(state = 'succeeded' AND finished_at > %s))",
        [frozen_term, thawed_at, thawed_at],
    ).fetchone()[0]
    assert late == 0
    db.close()
    print(
        json.dumps(
            {"runs": len(runs), "states": states, "takeovers_s": cluster.takeovers}, default=str
        )
    )
