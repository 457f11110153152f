"""Benchmark: generate an export set, build the warehouse on it, report timings.

    python -m cx_warehouse.bench --accounts 100000 --start 2025-01-01 --end 2025-12-31 --ami-days 31
    python -m cx_warehouse.bench --daily --accounts 20000 --format parquet   # full build vs one more day

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
    p.add_argument("--daily", action="store_true",
                   help="deliveries layout: time `dbt build` over every day but the last, then the incremental "
                        "`dbt build` that adds the last day's deliveries")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="export format (with --daily)")
    args = p.parse_args(argv)
    if args.daily:
        return daily(args)

    work = Path(args.workdir)
    raw = work / f"exports_{args.accounts}"
    db = work / f"bench_{args.accounts}.duckdb"
    target = work / "target"
    _fresh(work, [raw], db)

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

    raw_bytes = sum(f.stat().st_size for f in raw.rglob("*.csv"))
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


def _fresh(work: Path, folders: list[Path], db: Path) -> None:
    """Remove what an earlier benchmark left in `work`."""
    for d in folders:
        shutil.rmtree(d, ignore_errors=True)
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)


def _slowest(results: list[dict], n: int = 8) -> list[str]:
    slow = sorted(results, key=lambda r: -r["execution_time"])[:n]
    def label(uid: str) -> str:
        parts = uid.split(".")
        return parts[-2] if parts[0] == "test" else parts[-1]  # tests end in a hash
    return [f"| {label(r['unique_id'])[:60]} | {r['execution_time']:,.1f} |" for r in slow]


def daily(args) -> int:
    """A scheduled day: the warehouse holds every day but the last; the last
    day's deliveries arrive and an incremental `dbt build` takes them in."""
    work = Path(args.workdir)
    full = work / f"landing_full_{args.accounts}"
    landing = work / f"landing_{args.accounts}"
    db = work / f"daily_{args.accounts}.duckdb"
    target = work / "target"
    _fresh(work, [full, landing], db)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    manifest = generate(full, accounts=args.accounts, start=date.fromisoformat(args.start),
                        end=date.fromisoformat(args.end), seed=args.seed, ami_days=args.ami_days,
                        layout="deliveries", file_format=args.format)
    timings["generate deliveries"] = time.perf_counter() - t0
    last = args.end
    shutil.copytree(full, landing)
    held_back = [f for f in landing.rglob(f"{last}.*")]
    for f in held_back:
        f.unlink()
    common = ["--vars", json.dumps({"raw_dir": str(landing.resolve())}), "--target-path", str(target)]
    t0 = time.perf_counter()
    rc_full = run_dbt(["build", *common], db, quiet=True)
    timings[f"dbt build, every day but {last} (full)"] = time.perf_counter() - t0
    full_results = json.loads((target / "run_results.json").read_text())["results"]
    for f in held_back:
        shutil.copy2(full / f.relative_to(landing), f)
    t0 = time.perf_counter()
    rc_day = run_dbt(["build", *common], db, quiet=True)
    timings[f"dbt build adding {last} (incremental)"] = time.perf_counter() - t0
    day_results = json.loads((target / "run_results.json").read_text())["results"]
    reads = manifest["rows_written"].get("raw_ami_daily_reads/", 0)
    lines = [
        f"### Daily run: {args.accounts:,} premises, {args.start} .. {args.end}, {args.format} deliveries",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"AMI reads {reads:,} in {len(manifest['deliveries'].get('raw_ami_daily_reads', []))} daily files; "
        f"warehouse {db.stat().st_size / 1e6:,.0f} MB; exit codes full/day = {rc_full}/{rc_day}",
        "",
        "| phase | seconds |",
        "|---|---:|",
        *[f"| {k} | {v:,.1f} |" for k, v in timings.items()],
        "",
        "Slowest nodes of the full build:", "", "| node | seconds |", "|---|---:|", *_slowest(full_results),
        "",
        "Slowest nodes of the incremental day:", "", "| node | seconds |", "|---|---:|", *_slowest(day_results),
    ]
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(full, ignore_errors=True)
        shutil.rmtree(landing, ignore_errors=True)
    return 0 if rc_full == 0 and rc_day == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
