"""Fault-injection and fuzzing figures (issue 8): requests sent / accepted / processed / lost per fault scenario,
fuzz cases and 5xx count per endpoint. Target: lost = 0 and 5xx = 0 everywhere.

Runs the real tests of ``tests/reliability`` (gunicorn, Celery worker, private Redis, PostgreSQL restart) in a
pytest subprocess against the test database, collects the figures they report, and prints one table.
``python -m bench.chaos [--quick]`` (``--quick``: fuzzing and the worker kill only, ~30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUICK = [
    "tests/reliability/test_hostile_input.py",
    "tests/reliability/test_faults.py::test_a_worker_sigkilled_mid_batch_has_its_batch_redone_with_no_loss_and_no_duplicate",
]
FULL = ["tests/reliability/test_hostile_input.py", "tests/reliability/test_faults.py"]


def run(targets: list[str]) -> tuple[int, list[dict[str, object]]]:
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as handle:
        report = Path(handle.name)
    env = {**os.environ, "CHAOS_REPORT": str(report)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    tail = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    print(f"pytest {' '.join(targets)}: {' '.join(tail)}")
    if done.returncode:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    rows = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    report.unlink(missing_ok=True)
    return done.returncode, rows


def print_table(rows: list[dict[str, object]]) -> bool:
    faults = [r for r in rows if r["scenario"] != "fuzz"]
    fuzz = [r for r in rows if r["scenario"] == "fuzz"]
    ok = True
    if faults:
        print(f"\n{'fault scenario':30} {'sent':>6} {'accepted':>9} {'processed':>10} {'lost':>5} {'dup':>4}  answers")
        for r in faults:
            print(
                f"{r['scenario']:30} {r['sent']:>6} {r['accepted']:>9} {r['processed']:>10} {r['lost']:>5} "
                f"{r.get('duplicates', 0):>4}  {r.get('statuses', '')}"
                + (f"  worker restarts: {r['worker_restarts']}" if r.get("worker_restarts") else "")
            )
            statuses = r.get("statuses") or {}
            five_xx = sum(n for s, n in statuses.items() if str(s).startswith("5") and str(s) != "503")  # type: ignore[union-attr]
            ok &= r["lost"] == 0 and r.get("duplicates", 0) == 0 and five_xx == 0
    if fuzz:
        print(f"\n{'fuzzed endpoint':36} {'cases':>6} {'5xx':>4}")
        for r in fuzz:
            print(f"{r['endpoint']:36} {r['cases']:>6} {r['five_xx']:>4}")
            ok &= r["five_xx"] == 0
    print(f"\ntarget lost = 0 and 5xx = 0: {'MET' if ok else 'NOT MET'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    code, rows = run(QUICK if args.quick else FULL)
    ok = print_table(rows)
    return 0 if ok and code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
