"""Scheduler throughput: bare APScheduler vs django-apscheduler's store vs CronAdmin.

    python -m bench.scheduler                      # full run, 30 s per case (~10 minutes)
    python -m bench.scheduler --seconds 5 --sizes 100 --systems apscheduler,cronadmin

Prints one table; bench/README.md explains the columns.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import cronadmin_case
from bench.measure import SHAPES, failed

SYSTEMS = ("apscheduler", "djangojobstore", "cronadmin")
REFERENCE = "apscheduler"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Setup (migrations, creating 1000 jobs) and shutdown come on top of the measured seconds.
SETUP_ALLOWANCE_SECONDS = 180


def _csv(choices: tuple[str, ...] | None, cast=str):
    def parse(text: str) -> list:
        values = [cast(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        if choices is not None:
            unknown = [v for v in values if v not in choices]
            if unknown:
                raise argparse.ArgumentTypeError(
                    f"unknown {', '.join(unknown)}; choose from {', '.join(choices)}"
                )
        return values

    return parse


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run_baseline(system: str, n: int, shape: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "bench.baselines", system, str(n), shape, str(args.seconds)]
    command += ["--warmup", str(args.warmup), "--sqlite", args.djangojobstore_sqlite]
    with tempfile.TemporaryFile("w+") as stderr:
        try:
            done = subprocess.run(
                command,
                cwd=PROJECT_ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=args.warmup + args.seconds + SETUP_ALLOWANCE_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return failed(system=system, n=n, shape=shape, error="timed out")
        stderr.seek(0)
        log = stderr.read().strip().splitlines()
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        detail = " | ".join(log[-3:])
        return failed(system=system, n=n, shape=shape, error=f"exit {done.returncode}: {detail}")
    result = json.loads(lines[-1])
    result["log_lines"] = len(log)
    result["log_last"] = log[-1][:160] if log else ""
    return result


def run_one(system: str, n: int, shape: str, args: argparse.Namespace) -> dict:
    if system != "cronadmin":
        return run_baseline(system, n, shape, args)
    try:
        return cronadmin_case.run_case(n, shape, args.seconds, warmup=args.warmup)
    except Exception as exc:
        if not isinstance(exc, cronadmin_case.StepFailed):
            traceback.print_exc(file=sys.stderr)
        return failed(system=system, n=n, shape=shape, error=f"{type(exc).__name__}: {exc}")


def combine(repeats: list[dict]) -> dict:
    """Median of each figure over the repeats of one case; errors are all kept."""
    combined = dict(repeats[0])
    numeric_keys = {k for r in repeats for k, v in r.items() if isinstance(v, int | float)}
    for key in numeric_keys - {"n", "expected_per_s", "window_start"}:
        values = [r[key] for r in repeats if isinstance(r.get(key), int | float)]
        combined[key] = statistics.median(values) if values else None
    state_names = {name for r in repeats for name in r.get("states", {})}
    combined["states"] = {
        name: statistics.median(r.get("states", {}).get(name, 0) for r in repeats)
        for name in sorted(state_names)
    }
    errors = [r["error"] for r in repeats if r.get("error")]
    combined["error"] = "; ".join(dict.fromkeys(errors)) or None
    combined["repeats"] = len(repeats)
    return combined


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    ratio = value / reference
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:,.0f}x"


def table_rows(results: list[dict]) -> list[list[str]]:
    references = {(r["n"], r["shape"]): r for r in results if r["system"] == REFERENCE}
    rows = []
    for r in results:
        if "slots_expected" not in r:
            rows.append([r["system"], str(r["n"]), r["shape"], "failed", *[""] * 8])
            continue
        ref = references.get((r["n"], r["shape"]), {})
        rows.append(
            [
                r["system"],
                str(r["n"]),
                r["shape"],
                f"{_num(r['fires_per_s'])} / {r['expected_per_s']}",
                f"{_num(r['slots_fired'])} / {_num(r['slots_expected'])}",
                _num(r["slots_not_run"]),
                _ms(r["late_p50_ms"]),
                _ms(r["late_p99_ms"]),
                _ms(r["late_max_ms"]),
                _num(r["cpu_percent"]),
                _ratio(r["slots_fired"], ref.get("slots_fired")),
                _ratio(r["late_p99_ms"], ref.get("late_p99_ms")),
            ]
        )
    return rows


# (title, second title line, right-aligned)
COLUMNS = [
    ("system", "", False),
    ("N", "", True),
    ("shape", "", False),
    ("fires/s", "got / exp", True),
    ("slots fired", "/ expected", True),
    ("not", "run", True),
    ("late", "p50 ms", True),
    ("late", "p99 ms", True),
    ("late", "max ms", True),
    ("CPU", "%", True),
    ("vs APS", "fired", True),
    ("vs APS", "p99", True),
]


def render(results: list[dict]) -> str:
    header = [[title for title, _, _ in COLUMNS], [second for _, second, _ in COLUMNS]]
    rows = [*header, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, (_, _, right) in zip(row, widths, COLUMNS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == len(header) - 1:
            lines.append("  ".join("-" * w for w in widths))
    notes = []
    for r in results:
        parts = [r["variant"]] if r.get("variant") else []
        if r.get("states"):
            parts.append(" ".join(f"{k}={_num(v)}" for k, v in r["states"].items()))
        if r.get("setup_s") is not None:
            parts.append(f"setup {r['setup_s']:.1f} s")
        if r.get("log_lines"):
            parts.append(f"{_num(r['log_lines'])} stderr lines, last: {r.get('log_last', '')}")
        if r.get("error"):
            parts.append(f"ERROR {r['error']}")
        notes.append(f"  {r['system']} N={r['n']} {r['shape']}: {'; '.join(parts)}")
    return "\n".join([*lines, "", "slot states in the window and notes:", *notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per case")
    parser.add_argument("--sizes", type=_csv(None, _positive_int), default=[100, 1000])
    parser.add_argument("--shapes", type=_csv(SHAPES), default=list(SHAPES))
    parser.add_argument("--systems", type=_csv(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--warmup", type=int, default=2, help="seconds ignored after start")
    parser.add_argument("--repeat", type=_positive_int, default=1, help="runs per case; medians")
    parser.add_argument(
        "--djangojobstore-sqlite",
        choices=("wal", "immediate", "plain"),
        default="wal",
        help="SQLite setup for djangojobstore (see bench/djangojobstore_settings.py)",
    )
    parser.add_argument("--json", type=Path, help="also write every raw result to this file")
    args = parser.parse_args(argv)

    raw: list[dict] = []
    results: list[dict] = []
    for n in args.sizes:
        for shape in args.shapes:
            for system in args.systems:
                repeats = []
                for attempt in range(args.repeat):
                    print(
                        f"{time.strftime('%H:%M:%S')} {system} N={n} {shape}"
                        f" ({attempt + 1}/{args.repeat})",
                        file=sys.stderr,
                        flush=True,
                    )
                    repeats.append(run_one(system, n, shape, args))
                raw.extend(repeats)
                results.append(combine(repeats))

    print(render(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
