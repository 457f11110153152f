"""What every test module shares: a dbt target folder per pytest worker, and
builds paid for once per test session.

`make test` runs pytest with two workers (pytest-xdist). Two dbt
invocations must never share a target folder or log (a run reads its own
run_results.json), so each worker points dbt's own DBT_TARGET_PATH and
DBT_LOG_PATH, and the run's Great Expectations results, at a folder of its
own under target/pytest/.

A dbt invocation is the expensive part of the suite. `_builds.build_once`
runs a build once per test session, whichever worker asks first (the other
waits on a file lock) and hands every asker the same folder; generated
export sets are made once and copied (`_builds.generated`); tests that
change a warehouse work on their own copy (`_builds.copy_warehouse`). The
committed sample is built once: by `make test`'s own dbt-build step, which
runs beside pytest (CX_SAMPLE_WAREHOUSE names its file, CX_SAMPLE_READY says
when it is there), else here (`sample_build`).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from _builds import PROJECT, SHARED, WORKER, build_awkward_sample, build_once, build_sample, given_sample

# Every dbt, `python -m cx_warehouse run` and GX run of this worker writes here.
os.environ["DBT_TARGET_PATH"] = str(SHARED / WORKER / "target")
os.environ["DBT_LOG_PATH"] = str(SHARED / WORKER / "logs")
# dbt's log files at info, not debug: the debug log writes every statement of
# every node, about a tenth of a small build's CPU (docs/benchmarks.md, "Test suite")
os.environ.setdefault("DBT_LOG_LEVEL_FILE", "info")
os.environ["CX_GX_RESULTS_DIR"] = str(SHARED / WORKER / "gx")
os.environ.setdefault("DBT_PROFILES_DIR", str(PROJECT))
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
# Every dbt process of the suite shares a parse with the others of the same
# profile and target, whatever settings (--vars) they pass (DECISIONLOG 135):
# _dbt_shared_parse/sitecustomize.py, loaded from PYTHONPATH, keeps the
# session's parses in CX_TEST_PARSE_CACHE.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(__file__).with_name("_dbt_shared_parse")), os.environ.get("PYTHONPATH")) if p)
os.environ["CX_TEST_PARSE_CACHE"] = str(SHARED / "parses")

# Tests run in work units (pytest-xdist's --dist loadscope): a module, or a
# class, is one unit, so its module- or class-scoped builds are made once, on
# one worker. The slowest units go first, so that the workers end together.
HEAVY_FIRST = ["test_engine_spark", "TestDeliveryChain", "test_engine_postgres",
               "test_hostile_exports", "test_pipeline_e2e", "test_ami_gate", "test_incremental_ami",
               "test_orchestration"]
# then the middle-sized units, longest first (worker seconds in clean-clone runs:
# 20 to 45 s each), so that the small ones left at the end even out the two workers
THEN = ["test_deliveries", "test_semantic_layer", "test_freshness_and_selectors", "test_contract_rules",
        "test_gx_checks", "test_generator", "test_engine_spark_intake"]
# units that build a warehouse (or read the session's sample build): marked
# `slow`, left out by `make check`
SLOW_UNITS = {*HEAVY_FIRST, "test_deliveries", "test_semantic_layer", "test_contract_rules"}


def pytest_configure(config):
    # the controller (or a run without workers) starts the session with no shared builds
    if not hasattr(config, "workerinput"):
        shutil.rmtree(SHARED, ignore_errors=True)
    SHARED.mkdir(parents=True, exist_ok=True)


def _unit(item) -> str:
    return item.cls.__name__ if getattr(item, "cls", None) else item.path.stem


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate([*HEAVY_FIRST, *THEN])}
    for item in items:
        if _unit(item) in SLOW_UNITS:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: rank.get(_unit(item), len(rank)))


@pytest.fixture(scope="session")
def sample_build() -> dict:
    """The committed sample built by `dbt build` with every test: {'db', 'target'}.

    `make test` passes its own dbt-build step's file (CX_SAMPLE_WAREHOUSE,
    target folder CX_SAMPLE_TARGET), built from this code beside pytest (the
    fixture waits for that step: CX_SAMPLE_READY);
    otherwise it is built here once per session. Open it read-only, or copy it.
    """
    return given_sample() or build_once("sample", build_sample)


@pytest.fixture(scope="session")
def awkward_sample_build() -> dict:
    """The sample in a landing folder with an awkward path and delivery names
    (_builds.awkward_landing) and a delivery whose order depends on the
    collation (_builds.collation_probe), built on DuckDB with every test, once
    per session: {'db', 'target', 'raw', 'probe_contact_id'}. The other
    engines load the same folder and are compared with it."""
    return build_once("awkward-sample", build_awkward_sample)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Each test's start and end on its worker, setup and teardown included
    (target/pytest/<worker>/timeline.jsonl): where a worker's time went, and
    how long it idled before the other finished."""
    import json
    import time

    started = time.time()
    yield
    log = SHARED / WORKER / "timeline.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.write(json.dumps({"test": item.nodeid, "start": started, "end": time.time()}) + "\n")
