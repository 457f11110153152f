"""Command line of the CX warehouse tooling: `python -m cx_warehouse <command>`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .contract import ContractError, preflight


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import build_and_publish
    from .scorecard import render_scorecard

    extra = json.loads(args.vars) if args.vars else {}
    if args.as_of:
        extra["as_of_date"] = args.as_of
    result = build_and_publish(Path(args.raw_dir), Path(args.duckdb) if args.duckdb else None,
                               extra_vars=extra, run_gx=not args.skip_gx, full_refresh=args.full_refresh,
                               selector=args.selector, verbose=args.verbose)
    if not result.published:
        print(f"ERROR: {result.message}", file=sys.stderr)
        return 1
    print(render_scorecard(result.duckdb_path))
    _write_dashboard(result.duckdb_path)
    return _run_handoff(result.duckdb_path)


def _run_handoff(published: Path) -> int:
    """After a published run: hand the due surveys off when a folder is configured (CX_SURVEY_HANDOFF_DIR)."""
    import os

    from .handoff import format_handoff, handoff
    from .progress import phase

    out = os.environ.get("CX_SURVEY_HANDOFF_DIR")
    if not out:
        print("hand-off: skipped (no hand-off folder configured: CX_SURVEY_HANDOFF_DIR, or make run HANDOFF_DIR=...)")
        return 0
    try:
        with phase("hand-off") as report:
            report["text"] = format_handoff(handoff(published, Path(out)))
    except ContractError as exc:
        print(f"ERROR: the marts are published, but the survey hand-off was refused: {exc}", file=sys.stderr)
        return 2
    return 0


def _write_dashboard(duckdb_path: Path) -> None:
    """The static dashboard beside the published warehouse (<folder>/dashboard/index.html)."""
    from .dashboard import build_dashboard

    try:
        index = build_dashboard(duckdb_path, Path(duckdb_path).resolve().parent / "dashboard")
    except Exception as exc:  # the marts are published; a missing chart must not fail the run
        print(f"WARNING: dashboard not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    print(f"Dashboard: {index} (open it in a browser; it needs no server and no network)")


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from .pipeline import warehouse_path

    path = Path(args.duckdb) if args.duckdb else warehouse_path()
    if not path.exists():
        print(f"ERROR: no warehouse at {path}; run `make run` first", file=sys.stderr)
        return 2
    _write_dashboard(path)
    return 0


def _cmd_preflight(args: argparse.Namespace) -> int:
    problems = preflight(Path(args.raw_dir))
    for p in problems:
        print(f"ERROR: {p}", file=sys.stderr)
    if not problems:
        print(f"{args.raw_dir}: all 14 CIS exports present, every delivery with every contract column")
    return 2 if problems else 0


def _cmd_scorecard(args: argparse.Namespace) -> int:
    from .pipeline import warehouse_path
    from .scorecard import render_scorecard

    path = Path(args.duckdb) if args.duckdb else warehouse_path()
    if not path.exists():
        print(f"ERROR: no warehouse at {path}; run `make run` first", file=sys.stderr)
        return 2
    print(render_scorecard(path))
    return 0


def _cmd_surveys_handoff(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from .handoff import format_handoff, handoff
    from .pipeline import warehouse_path

    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            print(f"ERROR: --now {args.now!r} is not a timestamp (YYYY-MM-DD HH:MM:SS, UTC unless it says otherwise)",
                  file=sys.stderr)
            return 2
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    result = handoff(Path(args.duckdb) if args.duckdb else warehouse_path(), Path(args.out), now=now,
                     dry_run=args.dry_run)
    print(format_handoff(result, dry_run=args.dry_run))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cx_warehouse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="build the warehouse from CIS exports, publish it atomically, print the scorecard")
    run.add_argument("--raw-dir", default="data/sample_exports",
                     help="landing folder of the 14 CIS exports (each raw_X.csv, raw_X.parquet or a folder raw_X/)")
    run.add_argument("--duckdb", help="published warehouse file (default: $DUCKDB_PATH or warehouse/cx_warehouse.duckdb)")
    run.add_argument("--as-of", help="override the as-of date (YYYY-MM-DD)")
    run.add_argument("--vars", help="extra dbt vars as a JSON object, e.g. '{\"fcr_recontact_window_days\": 5}'")
    run.add_argument("--skip-gx", action="store_true", help="skip the Great Expectations checkpoint")
    run.add_argument("--verbose", action="store_true",
                     help="stream dbt's whole log instead of one progress line (it is always in logs/dbt.log)")
    run.add_argument("--full-refresh", action="store_true",
                     help="rebuild every incremental model from all deliveries instead of loading only new ones")
    run.add_argument("--selector", help="build only a cadence's models (selectors.yml: billing_run, daily, monthly)")
    run.set_defaults(func=_cmd_run)

    pf = sub.add_parser("preflight", help="check that every export exists with every contract column")
    pf.add_argument("--raw-dir", default="data/sample_exports")
    pf.set_defaults(func=_cmd_preflight)

    sc = sub.add_parser("scorecard", help="print the scorecard of a built warehouse")
    sc.add_argument("--duckdb")
    sc.set_defaults(func=_cmd_scorecard)

    db = sub.add_parser("dashboard", help="write the static dashboard of a built warehouse (<folder>/dashboard/index.html)")
    db.add_argument("--duckdb")
    db.set_defaults(func=_cmd_dashboard)

    sv = sub.add_parser("surveys", help="survey triggers: hand the due ones to a survey tool")
    sv_sub = sv.add_subparsers(dest="surveys_command", required=True)
    ho = sv_sub.add_parser("handoff", help="write the due triggers not handed off before, with name and e-mail, "
                                            "as one CSV batch and its manifest in a private folder")
    ho.add_argument("--out", required=True, help="private folder (mode 700) outside the published warehouse's folder")
    ho.add_argument("--duckdb", help="published warehouse file (default: $DUCKDB_PATH or warehouse/cx_warehouse.duckdb)")
    ho.add_argument("--now", help="the clock for send windows (default: now; for replays and tests)")
    ho.add_argument("--dry-run", action="store_true", help="print the counts only; write and record nothing")
    ho.set_defaults(func=_cmd_surveys_handoff)

    parser.add_argument("--debug", action="store_true", help="show a Python traceback on an unexpected error")
    args = parser.parse_args(argv)
    from .publish import RunInProgress

    try:
        return args.func(args)
    except RunInProgress as exc:  # another run holds the warehouse's lock
        print(f"ERROR: {exc}", file=sys.stderr)
        return 3
    except ContractError as exc:  # input that cannot be loaded, or a refused hand-off folder
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ERROR: interrupted; the published warehouse was left as it was", file=sys.stderr)
        return 130
    except Exception as exc:  # no traceback reaches the user unless asked for
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"ERROR: {type(exc).__name__}: {first} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
