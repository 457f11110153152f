"""Benchmark: generate an export set, build the warehouse on it, report timings.

    python -m cx_warehouse.bench --accounts 100000 --start 2025-01-01 --end 2025-12-31 --ami-days 31

Prints a Markdown report (phase timings, rows per export, slowest models) to
paste into docs/benchmarks.md. Not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from datetime import date
from pathlib import Path

from .contract import PROJECT_DIR, preflight
from .generator import generate
from .pipeline import run_dbt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cx_warehouse.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=20000)
    p.add_argument("--start", default="2025-01-01")
    p.add_argument("--end", default="2025-12-31")
    p.add_argument("--ami-days", type=int, default=31)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--workdir", default=str(PROJECT_DIR / "bench" / "out"))
    p.add_argument("--keep", action="store_true", help="keep the generated exports and warehouse")
    p.add_argument("--gx", action="store_true", help="also time the Great Expectations checkpoint")
    args = p.parse_args(argv)

    work = Path(args.workdir)
    raw = work / f"exports_{args.accounts}"
    db = work / f"bench_{args.accounts}.duckdb"
    target = work / "target"
    shutil.rmtree(raw, ignore_errors=True)
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    manifest = generate(raw, accounts=args.accounts, start=date.fromisoformat(args.start),
                        end=date.fromisoformat(args.end), seed=args.seed, ami_days=args.ami_days)
    timings["generate exports"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    problems = preflight(raw)
    timings["preflight (headers)"] = time.perf_counter() - t0
    assert not problems, problems

    vars_ = json.dumps({"raw_dir": str(raw.resolve())})
    common = ["--vars", vars_, "--target-path", str(target)]
    t0 = time.perf_counter()
    rc_seed = run_dbt(["seed", *common], db, quiet=True)
    rc_run = run_dbt(["run", *common], db, quiet=True)
    timings["dbt seed + run (all models)"] = time.perf_counter() - t0
    run_results = json.loads((target / "run_results.json").read_text())
    t0 = time.perf_counter()
    rc_test = run_dbt(["test", *common], db, quiet=True)
    timings["dbt test (unit + data tests)"] = time.perf_counter() - t0
    test_results = json.loads((target / "run_results.json").read_text())
    if args.gx:
        from .gx_checks import run_checkpoint

        t0 = time.perf_counter()
        outcome = run_checkpoint(db, raw, work / "gx_results")
        timings[f"GX checkpoint (success={outcome.success})"] = time.perf_counter() - t0

    raw_bytes = sum(f.stat().st_size for f in raw.glob("*.csv"))
    lines = [
        f"### {args.accounts:,} premises, {args.start} .. {args.end}, AMI reads for the last {args.ami_days} days",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"exports {raw_bytes / 1e6:,.0f} MB; warehouse {db.stat().st_size / 1e6:,.0f} MB; "
        f"exit codes seed/run/test = {rc_seed}/{rc_run}/{rc_test}",
        "",
        "| phase | seconds |",
        "|---|---:|",
        *[f"| {k} | {v:,.1f} |" for k, v in timings.items()],
        "",
        "| export | rows |",
        "|---|---:|",
        *[f"| {k} | {v:,} |" for k, v in manifest["rows_written"].items()],
        "",
        "Slowest models:",
        "",
        "| model | seconds |",
        "|---|---:|",
    ]
    slow = sorted(run_results["results"], key=lambda r: -r["execution_time"])[:10]
    lines += [f"| {r['unique_id'].split('.')[-1]} | {r['execution_time']:,.1f} |" for r in slow]
    slow_tests = sorted(test_results["results"], key=lambda r: -r["execution_time"])[:5]
    lines += ["", "Slowest tests:", "", "| test | seconds | status |", "|---|---:|---|"]
    lines += [f"| {r['unique_id'].split('.')[-2][:70]} | {r['execution_time']:,.1f} | {r['status']} |" for r in slow_tests]
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(raw, ignore_errors=True)
    return 0 if rc_run == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
