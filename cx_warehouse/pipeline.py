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
import shutil
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
        _remove_db(building)
        return RunResult(False, duckdb_path, f"dbt build failed (exit {rc}); the published warehouse was left unchanged", timings)

    if run_gx:
        from .gx_checks import format_summary, run_checkpoint

        t0 = time.perf_counter()
        results_dir = PROJECT_DIR / "gx" / "uncommitted" / "validations"
        outcome = run_checkpoint(building, raw_dir, results_dir)
        timings["gx_checkpoint_s"] = time.perf_counter() - t0
        if not quiet:
            print(format_summary(outcome))
        if not outcome.success:
            _remove_db(building)
            return RunResult(False, duckdb_path, "the Great Expectations checkpoint failed; the published warehouse was left unchanged", timings)

    # Publish: one atomic rename on the same filesystem.
    wal = Path(str(duckdb_path) + ".wal")
    if wal.exists():
        wal.unlink()
    os.replace(building, duckdb_path)
    return RunResult(True, duckdb_path, "published", timings)


def copy_warehouse(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
