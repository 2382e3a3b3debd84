"""Tasks the Celery benchmark runs (bench.celery_runs); loaded through bench.celery_settings."""

from jobs.registry import task


@task("bench.spin", help={"iterations": "Loop iterations: a fixed amount of CPU work."})
def spin(iterations: int = 3_000_000) -> None:
    total = 0
    for i in range(iterations):
        total += i * i
