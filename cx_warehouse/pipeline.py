"""Build the warehouse from a directory of CIS exports and publish it atomically.

The run builds a fresh DuckDB file next to the published one, runs the whole
`dbt build` (models, seeds and every data and unit test) and the Great
Expectations checkpoint on it, and only then replaces the published file in
one rename. A missing file, a header lacking a contract column, a failing
test or a failing expectation leaves the previously published marts as they
were.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .contract import PROJECT_DIR, ContractError, preflight

DEFAULT_DUCKDB = PROJECT_DIR / "warehouse" / "cx_warehouse.duckdb"


def warehouse_path() -> Path:
    """The published warehouse file: $DUCKDB_PATH, else the project default."""
    env = os.environ.get("DUCKDB_PATH")
    return Path(env).resolve() if env else DEFAULT_DUCKDB


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_env(duckdb_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DUCKDB_PATH"] = str(duckdb_path)
    env.setdefault("DBT_PROFILES_DIR", str(PROJECT_DIR))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
    env["DO_NOT_TRACK"] = "1"
    return env


def run_dbt(args: list[str], duckdb_path: Path, quiet: bool = False) -> int:
    cmd = [dbt_executable(), *args]
    out = subprocess.DEVNULL if quiet else None
    return subprocess.call(cmd, cwd=PROJECT_DIR, env=dbt_env(duckdb_path), stdout=out)


@dataclass
class RunResult:
    published: bool
    duckdb_path: Path
    message: str
    timings: dict[str, float] = field(default_factory=dict)


def _remove_db(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        if p.exists():
            p.unlink()


HISTORY_TABLE = "dq_runtime.test_results"


def merge_test_history(src: Path, dst: Path) -> None:
    """Append the test-result log rows of warehouse `src` that `dst` lacks."""
    if not src.exists() or not dst.exists():
        return
    import duckdb

    con = duckdb.connect(str(dst))
    try:
        con.execute(f"attach '{src}' as src_db (read_only)")
        has = con.execute(
            "select count(*) from duckdb_tables() where database_name = 'src_db' "
            "and schema_name = 'dq_runtime' and table_name = 'test_results'"
        ).fetchone()[0]
        if has:
            con.execute("create schema if not exists dq_runtime")
            con.execute(f"create table if not exists {HISTORY_TABLE} as select * from src_db.{HISTORY_TABLE} limit 0")
            con.execute(
                f"insert into {HISTORY_TABLE} select * from src_db.{HISTORY_TABLE} s "
                f"where not exists (select 1 from {HISTORY_TABLE} d where d.invocation_id = s.invocation_id "
                "and d.test_unique_id = s.test_unique_id)"
            )
        con.execute("detach src_db")
    finally:
        con.close()


def build_and_publish(
    raw_dir: Path,
    duckdb_path: Path | None = None,
    extra_vars: dict | None = None,
    run_gx: bool = True,
    quiet: bool = False,
) -> RunResult:
    raw_dir = Path(raw_dir).resolve()
    duckdb_path = Path(duckdb_path).resolve() if duckdb_path else warehouse_path()
    timings: dict[str, float] = {}

    problems = preflight(raw_dir)
    if problems:
        raise ContractError(
            "the CIS exports cannot be loaded; nothing was published:\n  " + "\n  ".join(problems)
        )

    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    building = duckdb_path.with_name(duckdb_path.name + ".building")
    _remove_db(building)

    dbt_vars = {"raw_dir": str(raw_dir), **(extra_vars or {})}
    t0 = time.perf_counter()
    rc = run_dbt(["build", "--vars", json.dumps(dbt_vars)], building, quiet=quiet)
    timings["dbt_build_s"] = time.perf_counter() - t0
    if rc != 0:
        # keep the failed run's test results in the published warehouse's log
        merge_test_history(building, duckdb_path)
        _remove_db(building)
        return RunResult(False, duckdb_path, f"dbt build failed (exit {rc}); the published marts were left unchanged", timings)

    if run_gx:
        from .gx_checks import format_summary, run_checkpoint

        t0 = time.perf_counter()
        results_dir = PROJECT_DIR / "gx" / "uncommitted" / "validations"
        outcome = run_checkpoint(building, raw_dir, results_dir)
        timings["gx_checkpoint_s"] = time.perf_counter() - t0
        if not quiet:
            print(format_summary(outcome, failures_only=True))
            print(f"  (all results as JSON in {results_dir})")
        if not outcome.success:
            merge_test_history(building, duckdb_path)
            _remove_db(building)
            return RunResult(False, duckdb_path, "the Great Expectations checkpoint failed; the published marts were left unchanged", timings)

    # Carry the test-result history over, then publish: one atomic rename.
    merge_test_history(duckdb_path, building)
    wal = Path(str(duckdb_path) + ".wal")
    if wal.exists():
        wal.unlink()
    os.replace(building, duckdb_path)
    return RunResult(True, duckdb_path, "published", timings)

