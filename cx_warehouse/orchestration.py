"""The warehouse as Dagster assets (docs/orchestration.md): a code location
with the same write-audit-publish run as `make run`.

    DAGSTER_HOME=$PWD/orchestration .venv/bin/dagster dev -m cx_warehouse.orchestration

- `intake`: preflight of the landing folder, then the delivery plan; its
  assets are the dbt sources (the 15 CIS exports), so every dbt model
  depends on it.
- `cx_dbt`: every dbt model and seed as an asset, from the project's
  manifest (dagster-dbt); each dbt data test is an asset check. One `dbt
  build` into the working state, the tests inside it. A failed build
  publishes the data-health tables only (as `make run` does) and fails the
  step, so nothing after it runs.
- `gate`: the Great Expectations checkpoint on the working state.
- `published_warehouse`: the marts copied into a new file and renamed over
  the published one (cx_warehouse.publish).
- `survey_handoff`: the due surveys into the configured private folder
  (cx_warehouse.handoff), or skipped when none is configured.

Every step that writes takes the warehouse's run lock, and every one is in
the concurrency pool `cx_warehouse_writer` (limit 1 in orchestration/dagster.yaml):
a DuckDB file takes one writer at a time. Three schedules run the cadences of
selectors.yml (billing run, daily, monthly) through the same assets, the dbt
step limited to the cadence's selector.
"""

import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from dagster import (AssetExecutionContext, AssetKey, AssetSelection, AssetSpec, Config, ConfigurableResource,
                     Definitions, Failure, MaterializeResult, ScheduleDefinition, asset, define_asset_job, multi_asset)
from dagster_dbt import DbtCliResource, dbt_assets

from .contract import PROJECT_DIR
from .pipeline import (_write_state_meta, build_command, dbt_env, dbt_executable, delivery_plan, folder_changed,
                       forget_published_inputs, handoff_ledger_env, run_health, state_path, warehouse_path)
from .publish import RunLock, changed_since_publish, publish, summarise

POOL = "cx_warehouse_writer"
TARGET = PROJECT_DIR / "target" / "dagster"  # the code location's own parse, apart from `make run`'s


def _newest_project_file() -> float:
    folders = ("models", "macros", "seeds", "tests", "analyses")
    files = [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "selectors.yml",
             *(f for d in folders for f in (PROJECT_DIR / d).rglob("*")
               if f.suffix in (".sql", ".yml", ".yaml", ".csv", ".md") and f.is_file())]
    return max(f.stat().st_mtime for f in files if f.exists())


def _manifest() -> Path:
    """The project's manifest for the asset graph, parsed into target/dagster
    when missing or older than a file of the project (one process at a time)."""
    import fcntl

    path = TARGET / "manifest.json"
    TARGET.mkdir(parents=True, exist_ok=True)
    with open(TARGET / "parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists() or path.stat().st_mtime < _newest_project_file():
            env = dbt_env(TARGET / "parse.duckdb")
            proc = subprocess.run([dbt_executable(), "parse", "--target-path", str(TARGET),
                                   "--log-path", str(TARGET / "logs")], cwd=PROJECT_DIR, env=env,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError("dbt parse failed: " + proc.stdout[-2000:])
    return path


MANIFEST = _manifest()
SOURCES = [AssetKey([s["source_name"], s["name"]]) for s in json.loads(MANIFEST.read_text())["sources"].values()]


class Warehouse(ConfigurableResource):
    """Where a run reads and publishes (defaults: the environment `make run` reads)."""
    raw_dir: str = os.environ.get("CX_RAW_DIR", str(PROJECT_DIR / "data" / "sample_exports"))
    duckdb_path: str = str(warehouse_path())
    handoff_dir: str = os.environ.get("CX_SURVEY_HANDOFF_DIR", "")

    @property
    def published(self) -> Path:
        return Path(self.duckdb_path).resolve()

    @property
    def state(self) -> Path:
        return state_path(self.published)


@contextmanager
def _environment(values: dict[str, str]):
    """dagster-dbt starts dbt with this process's environment: set it for one step."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@multi_asset(specs=[AssetSpec(key, description="a CIS export in the landing folder") for key in SOURCES],
             pool=POOL)
def intake(warehouse: Warehouse):
    """Preflight (every export in one form, the contract's columns) and the delivery plan."""
    from .contract import preflight

    problems = preflight(Path(warehouse.raw_dir))
    if problems:
        raise Failure(description="the CIS exports cannot be loaded:\n" + "\n".join(problems))
    warehouse.published.parent.mkdir(parents=True, exist_ok=True)
    plan = {p["export"]: p for p in delivery_plan(Path(warehouse.raw_dir).resolve(), warehouse.published)}
    for key in SOURCES:
        p = plan.get(key.path[-1], {"new": [], "already": 0})
        yield MaterializeResult(asset_key=key, metadata={"new_deliveries": len(p["new"]),
                                                          "already_loaded": p["already"]})


class BuildConfig(Config):
    selector: str = ""  # a cadence of selectors.yml; empty = every model
    full_refresh: bool = False


@dbt_assets(manifest=MANIFEST, pool=POOL)
def cx_dbt(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse, config: BuildConfig):
    raw = Path(warehouse.raw_dir).resolve()
    state = warehouse.state
    full = config.full_refresh or folder_changed(state, raw) is not None
    args, test_scope = build_command(state, full, config.selector or None)
    env = {"DUCKDB_PATH": str(state), "CX_RAW_DIR": str(raw), "CX_TEST_SCOPE": test_scope,
           **handoff_ledger_env(state)}
    with RunLock(warehouse.published), _environment(env):
        forget_published_inputs(state)  # `make run` must not take this state for its last publish's
        invocation = dbt.cli(args, context=context, raise_on_error=False)
        yield from invocation.stream()
        if not invocation.is_successful():
            publish(state, warehouse.published, health_only=True, manifest=MANIFEST)
            health = run_health(state)
            raise Failure(description=f"dbt build failed: {sum(h['status'] != 'warn' for h in health.problems)} "
                                      "error(s); the published marts were left unchanged")
        _write_state_meta(state, {"raw_dir": str(raw)})


@asset(deps=[cx_dbt], pool=POOL)
def gate(warehouse: Warehouse) -> MaterializeResult:
    """The Great Expectations checkpoint on the working state; it checks what the
    run changed, as a scheduled `make run` does: the raw suite the deliveries this
    run loaded (new since the last publish), the marts suite the marts whose rows
    are not the published ones (the whole checkpoint: `make build-monthly`)."""
    from .gx_checks import run_checkpoint
    from .pipeline import gx_results_dir

    raw = Path(warehouse.raw_dir).resolve()
    with RunLock(warehouse.published):
        new = {p["export"]: set(p["new"]) for p in delivery_plan(raw, warehouse.published)}
        outcome = run_checkpoint(warehouse.state, raw, gx_results_dir(), only_deliveries=new,
                                 only_marts=changed_since_publish(warehouse.state, warehouse.published))
    if not outcome.success:
        raise Failure(description="the Great Expectations checkpoint failed; nothing is published")
    return MaterializeResult(metadata={"passed": True})


@asset(deps=[gate], pool=POOL)
def published_warehouse(warehouse: Warehouse) -> MaterializeResult:
    """The marts that changed written into a copy of the published file, renamed over it."""
    with RunLock(warehouse.published):
        actions = publish(warehouse.state, warehouse.published, manifest=MANIFEST)
    return MaterializeResult(metadata={"path": str(warehouse.published), "marts": summarise(actions)})


@asset(deps=[published_warehouse], pool=POOL)
def survey_handoff(warehouse: Warehouse) -> MaterializeResult:
    """The due surveys, with name and e-mail, into the private hand-off folder (once)."""
    from .handoff import format_handoff, handoff

    if not warehouse.handoff_dir:
        return MaterializeResult(metadata={"skipped": "no hand-off folder configured (CX_SURVEY_HANDOFF_DIR)"})
    result = handoff(warehouse.published, Path(warehouse.handoff_dir))
    return MaterializeResult(metadata={"batch_id": result.batch_id or "", "rows": sum(result.rows_by_type.values()),
                                       "summary": format_handoff(result)})


ALL = [intake, cx_dbt, gate, published_warehouse, survey_handoff]
# the cadences of selectors.yml (docs/scheduling.md): same assets, the dbt step limited to the selector
CADENCES = {"billing_run": "0 5 * * *", "daily": "0 6 * * *", "monthly": "0 7 1 * *"}
JOBS = {name: define_asset_job(f"cx_{name}", selection=AssetSelection.assets(*ALL),
                               config={"ops": {"cx_dbt": {"config": {"selector": name}}}})
        for name in CADENCES}

defs = Definitions(
    assets=ALL,
    jobs=list(JOBS.values()),
    schedules=[ScheduleDefinition(job=JOBS[name], cron_schedule=cron, execution_timezone="UTC")
               for name, cron in CADENCES.items()],
    resources={"dbt": DbtCliResource(project_dir=str(PROJECT_DIR), profiles_dir=str(PROJECT_DIR), target="duckdb",
                                     dbt_executable=dbt_executable()),
               "warehouse": Warehouse()},
)
