"""What every test module shares: a dbt target folder per pytest worker, and
builds paid for once per test session.

`make test` runs pytest with two workers (pytest-xdist). Two dbt
invocations must never share a target folder or log (a run reads its own
run_results.json), so each worker points dbt's own DBT_TARGET_PATH and
DBT_LOG_PATH, and the run's Great Expectations results, at a folder of its
own under target/pytest/.

A dbt invocation is the expensive part of the suite. `build_once` runs a
build once per test session, whichever worker asks first (the other waits
on a file lock) and hands every asker the same folder: tests that change a
warehouse work on their own copy (`copy_warehouse`). The committed sample
is built once: by `make test`'s own dbt-build step (CX_SAMPLE_WAREHOUSE
names its file), else here.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SHARED = PROJECT / "target" / "pytest"
SAMPLE = PROJECT / "data" / "sample_exports"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

# Every dbt, `python -m cx_warehouse run` and GX run of this worker writes here.
os.environ["DBT_TARGET_PATH"] = str(SHARED / WORKER / "target")
os.environ["DBT_LOG_PATH"] = str(SHARED / WORKER / "logs")
os.environ["CX_GX_RESULTS_DIR"] = str(SHARED / WORKER / "gx")
os.environ.setdefault("DBT_PROFILES_DIR", str(PROJECT))
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"

# Tests run in work units (pytest-xdist's --dist loadscope): a module, or a
# class, is one unit, so its module- or class-scoped builds are made once, on
# one worker (test_deliveries: a class per delivery format, so the two run side
# by side). The slowest units go first, so that the workers end together.
HEAVY_FIRST = ["test_engine_spark", "TestParquetDeliveries", "TestCsvDeliveries", "test_engine_postgres",
               "test_hostile_exports", "test_pipeline_e2e", "test_ami_gate", "test_incremental_ami"]
# units that build a warehouse (or read the session's sample build): marked
# `slow`, left out by `make check`
SLOW_UNITS = {*HEAVY_FIRST, "test_deliveries", "test_semantic_layer"}


def pytest_configure(config):
    # the controller (or a run without workers) starts the session with no shared builds
    if not hasattr(config, "workerinput"):
        shutil.rmtree(SHARED, ignore_errors=True)
    SHARED.mkdir(parents=True, exist_ok=True)


def _unit(item) -> str:
    return item.cls.__name__ if getattr(item, "cls", None) else item.path.stem


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    for item in items:
        if _unit(item) in SLOW_UNITS:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: rank.get(_unit(item), len(rank)))


@contextmanager
def _locked(lock: Path):
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_once(name: str, build: Callable[[Path], dict | None]) -> dict:
    """Run `build(folder)` once per test session (across workers) and return
    what it returned (JSON), with `folder`. A failed build is not recorded:
    the next asker tries again, and fails the same way."""
    folder = SHARED / "builds" / name
    result = folder / "result.json"
    with _locked(SHARED / "builds" / f"{name}.lock"):
        if not result.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            out = build(folder) or {}
            result.write_text(json.dumps(out, default=str))
    return {**json.loads(result.read_text()), "folder": str(folder)}


def copy_warehouse(published: Path, dest: Path) -> Path:
    """A private copy of a published warehouse and its working state (same
    file names, so the state's catalog name and views still resolve)."""
    from cx_warehouse.pipeline import state_path

    dest.mkdir(parents=True, exist_ok=True)
    for src in (published, state_path(published), state_path(published).with_name(state_path(published).name + ".json")):
        if src.exists():
            shutil.copy2(src, dest / src.name)
    return dest / published.name


def _build_sample(folder: Path) -> dict:
    db = folder / "sample.duckdb"
    target = folder / "target"
    env = {**os.environ, "DUCKDB_PATH": str(db), "CX_DUCKDB_TEMP_DIR": str(folder / "tmp")}
    proc = subprocess.run([str(Path(sys.executable).with_name("dbt")), "build", "--vars",
                           json.dumps({"raw_dir": str(SAMPLE)}), "--target-path", str(target),
                           "--log-path", str(folder / "logs")],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return {"db": str(db), "target": str(target)}


@pytest.fixture(scope="session")
def sample_build() -> dict:
    """The committed sample built by `dbt build` with every test: {'db', 'target'}.

    `make test` passes its own dbt-build step's file (CX_SAMPLE_WAREHOUSE,
    target folder CX_SAMPLE_TARGET), built from this code just before pytest;
    otherwise it is built here once per session. Open it read-only, or copy it.
    """
    given = os.environ.get("CX_SAMPLE_WAREHOUSE")
    if given and Path(given).is_file():
        return {"db": given, "target": os.environ.get("CX_SAMPLE_TARGET", str(PROJECT / "target"))}
    return build_once("sample", _build_sample)
