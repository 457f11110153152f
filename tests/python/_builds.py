"""Builds paid for once per test session, across pytest-xdist workers
(tests/python/conftest.py says how the suite uses them)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

PROJECT = Path(__file__).resolve().parents[2]
SHARED = PROJECT / "target" / "pytest"  # this session's shared builds and each worker's dbt folders
SAMPLE = PROJECT / "data" / "sample_exports"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


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


def generated(dest: Path, **kwargs) -> dict:
    """The generator's export set for these arguments in `dest`: generated
    once per session (across workers) and copied; returns its manifest."""
    from cx_warehouse.generator import generate

    key = hashlib.sha1(json.dumps(kwargs, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def make(folder: Path) -> dict:
        return {"manifest": generate(folder / "exports", **kwargs)}

    built = build_once(f"generated-{key}", make)
    shutil.copytree(Path(built["folder"]) / "exports", dest)
    return built["manifest"]


def copy_warehouse(published: Path, dest: Path) -> Path:
    """A private copy of a published warehouse, its working state and the
    state's meta file (same file names, so the state's catalog name and views
    still resolve)."""
    from cx_warehouse.pipeline import state_path

    state = state_path(published)
    dest.mkdir(parents=True, exist_ok=True)
    for src in (published, state, state.with_name(state.name + ".json")):
        if src.exists():
            shutil.copy2(src, dest / src.name)
    return dest / published.name


def given_sample(timeout: float = 1800) -> dict | None:
    """`make test`'s own build of the sample (its dbt-build step, which runs
    beside pytest): {'db', 'target'} from CX_SAMPLE_WAREHOUSE and
    CX_SAMPLE_TARGET, or None. With CX_SAMPLE_READY (the file that step writes
    "ok" or "failed" into when it ends), wait for that step first."""
    import time

    db = os.environ.get("CX_SAMPLE_WAREHOUSE")
    if not db:
        return None
    ready = os.environ.get("CX_SAMPLE_READY")
    if ready:
        deadline = time.monotonic() + timeout
        while not Path(ready).is_file():
            if time.monotonic() > deadline:
                raise TimeoutError(f"make test's dbt build of the sample did not end within {timeout:.0f} s ({ready})")
            time.sleep(1)
        if Path(ready).read_text().strip() != "ok":
            raise RuntimeError("make test's dbt build of the sample failed (its output is above): "
                               "the tests that read it cannot run")
    if not Path(db).is_file():
        return None
    return {"db": db, "target": os.environ.get("CX_SAMPLE_TARGET", str(PROJECT / "target"))}


# raw_contacts as a folder of two deliveries, the second named like SQL
AWKWARD_DELIVERIES = ["2025-01-01.csv", "2025-02-01'); select 1; --.csv"]


def awkward_landing(parent: Path, sample: Path = SAMPLE) -> Path:
    """A copy of `sample` in a landing folder whose path holds a space, a
    quote, an accented letter and glob brackets, with raw_contacts.csv split
    into the two deliveries of AWKWARD_DELIVERIES (same records, same order;
    the sample's contacts hold no quoted line break)."""
    raw = parent / "land ing's é [1]" / "exports"
    shutil.copytree(sample, raw)
    single = raw / "raw_contacts.csv"
    header, *records = single.read_bytes().splitlines(keepends=True)
    (raw / "raw_contacts").mkdir()
    half = len(records) // 2
    for name, part in zip(AWKWARD_DELIVERIES, (records[:half], records[half:])):
        (raw / "raw_contacts" / name).write_bytes(header + b"".join(part))
    single.unlink()
    return raw


# a third delivery of raw_contacts whose place among the others differs by
# collation: byte-wise (C, DuckDB, Spark) it comes after the SQL-like name
# ("'" is 0x27, "." 0x2E), in a linguistic order (en-US) before it
COLLATION_PROBE = "2025-02-01.csv"


def collation_probe(raw: Path) -> str:
    """Add COLLATION_PROBE to `raw`/raw_contacts: a correction of the first
    phone contact of the SQL-like delivery (100 more talk seconds). Byte-wise
    the correction is the later delivery and in force; an engine that ordered
    deliveries by a linguistic collation would keep the original. Returns the
    contact id."""
    import csv

    with (raw / "raw_contacts" / AWKWARD_DELIVERIES[1]).open(newline="") as fh:
        reader = csv.DictReader(fh)
        record = next(r for r in reader if r["channel"] == "phone" and r["talk_seconds"].isdigit())
        header = reader.fieldnames
    record["talk_seconds"] = str(int(record["talk_seconds"]) + 100)
    with (raw / "raw_contacts" / COLLATION_PROBE).open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerow(record)
    return record["contact_id"]


def build_awkward_sample(folder: Path) -> dict:
    """The sample in an awkward landing folder (awkward_landing) with the
    collation probe (collation_probe), built with every data test into
    `folder`: the other engines' reference. Without dbt's unit tests: they
    read their own fixtures, not the landing folder, and `make test`'s dbt
    build of the sample runs them on this same code (the engines' builds run
    them on theirs)."""
    raw = awkward_landing(folder)
    probe = collation_probe(raw)
    return {**build_sample(folder, raw, unit_tests=False), "probe_contact_id": probe}


def build_sample(folder: Path, raw: Path = SAMPLE, unit_tests: bool = True) -> dict:
    """The committed sample (or `raw`) built with every test (`dbt build`) into `folder`."""
    from cx_warehouse.pipeline import RUN_EXCLUDES, dbt_env, dbt_executable

    db, target = folder / "sample.duckdb", folder / "target"
    env = {**dbt_env(db), "CX_DUCKDB_TEMP_DIR": str(folder / "tmp")}
    proc = subprocess.run([dbt_executable(), "build", *([] if unit_tests else RUN_EXCLUDES),
                           "--vars", json.dumps({"raw_dir": str(raw)}),
                           "--target-path", str(target), "--log-path", str(folder / "logs")],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return {"db": str(db), "target": str(target), "raw": str(raw)}
