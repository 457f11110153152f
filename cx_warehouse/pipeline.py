"""Build the warehouse from a landing folder of CIS exports: write, audit, publish.

Two files, side by side (docs/publishing.md):

- the *working state* ``<name>.state.duckdb``: everything dbt builds (staging,
  intermediate, marts, the test-result log). It persists between runs, so a
  scheduled run only loads the deliveries it has not loaded yet (incremental
  staging) and recomputes what depends on them.
- the *published* file ``DUCKDB_PATH`` (default warehouse/cx_warehouse.duckdb),
  the one BI tools open: only schemas ``marts`` (the metric marts and the dq_*
  tables) and ``reference`` (targets), copied from the state after `dbt build` and the Great Expectations
  checkpoint passed, into a new file that replaces the old one in one rename.
  The copy costs what BI reads, not what the warehouse holds; a reader that
  has the old file open keeps reading it, new readers see the new one.

A run whose tests or gate fail publishes nothing (the data-health tables
excepted: the published dq_test_* tables get the failed run's results, the
marts stay as they were). Its deliveries are still "new" for the next run,
which builds them again.

A run none of whose inputs changed since the last published run (the same
deliveries by name and fingerprint, settings, project code and survey
hand-off ledger: `run_inputs`) builds, gates and publishes nothing: the
published marts already are its result (docs/publishing.md).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .contract import PROJECT_DIR, ContractError, export_files, fingerprints, load_contract, preflight
from .publish import RunInProgress, RunLock, changed_since_publish, clean_stale_publish_files, publish, summarise

__all__ = ["build_and_publish", "RunInProgress", "RunLock", "publish", "state_path", "warehouse_path"]

DEFAULT_DUCKDB = PROJECT_DIR / "warehouse" / "cx_warehouse.duckdb"
# A run leaves out dbt's unit tests: they check the code against hand-made
# inputs, not the day's data; `make test` and `make check` run them (DECISIONLOG 93).
RUN_EXCLUDES = ["--exclude-resource-type", "unit_test"]


def warehouse_path() -> Path:
    """The published warehouse file: $DUCKDB_PATH, else the project default."""
    env = os.environ.get("DUCKDB_PATH")
    return Path(env).resolve() if env else DEFAULT_DUCKDB


def beside(published: Path, kind: str) -> Path:
    """A file that belongs to a published file, beside it: `<name>.<kind>.duckdb`."""
    stem = published.name[:-len(".duckdb")] if published.name.endswith(".duckdb") else published.name
    return published.with_name(f"{stem}.{kind}.duckdb")


def state_path(published: Path) -> Path:
    """The working state that belongs to a published file (beside it)."""
    return beside(published, "state")


def handoff_ledger(published: Path) -> Path:
    """The survey hand-off's ledger of a published file (beside it)."""
    return beside(published, "survey-handoffs")


def handoff_ledger_env(state: Path) -> dict[str, str]:
    """CX_HANDOFF_LEDGER for a dbt run into a working state: the ledger of the
    published file the state belongs to (the on-run-start hook
    load_handoff_ledger copies it in)."""
    suffix = ".state.duckdb"
    published = state.with_name(state.name[:-len(suffix)] + ".duckdb") if state.name.endswith(suffix) else state
    return {"CX_HANDOFF_LEDGER": str(handoff_ledger(published))}


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_target_dir() -> Path:
    """Where dbt writes its artefacts (run_results.json, manifest.json): dbt's
    own $DBT_TARGET_PATH (relative to the project folder), else target/. Two
    runs side by side (the test suite's workers) each set their own."""
    return PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target")


def dbt_log_dir() -> Path:
    """Where dbt writes its log file (dbt.log): dbt's own $DBT_LOG_PATH
    (relative to the project folder), else logs/."""
    return PROJECT_DIR / os.environ.get("DBT_LOG_PATH", "logs")


def gx_results_dir() -> Path:
    """Where a run keeps the checkpoint's JSON results: $CX_GX_RESULTS_DIR, else gx/uncommitted/validations."""
    return PROJECT_DIR / os.environ.get("CX_GX_RESULTS_DIR", "gx/uncommitted/validations")


def dbt_env(duckdb_path: Path) -> dict[str, str]:
    """dbt's environment for a run from the project folder into `duckdb_path` (absolute)."""
    env = dict(os.environ)
    env["DUCKDB_PATH"] = str(duckdb_path)
    env.setdefault("DBT_PROFILES_DIR", str(PROJECT_DIR))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
    env["DO_NOT_TRACK"] = "1"
    return env


def dbt_invocation(args: list[str], duckdb_path: Path, raw_dir: Path | None = None,
                   test_scope: str | None = None, same_settings: bool = False) -> dict:
    """subprocess's arguments (args, cwd, env) for a dbt command on DuckDB into
    `duckdb_path`, run the way that lets dbt reuse its parse (DECISIONLOG 106):
    dbt parses the whole project again whenever the profile's connection or
    the command-line vars differ from its saved parse, so the run starts in
    the warehouse file's folder with the file (and the spill folder) named
    relative to it, and the landing folder and the test scope travel in the
    environment (CX_RAW_DIR, CX_TEST_SCOPE), not in --vars. Every run into a
    file of the same name, in any folder, then sees the same profile.
    same_settings (CX_SAME_SETTINGS=1): the run's settings and code are those
    of the build before it, which lets a model trust that a table not rebuilt
    since its last run holds nothing new for it (cx_rebuilt_since_last_run)."""
    duckdb_path = Path(duckdb_path).resolve()
    env = dbt_env(duckdb_path)
    env["DUCKDB_PATH"] = duckdb_path.name
    # paths the caller gave relative to the project folder keep their meaning
    for name in ("CX_DUCKDB_TEMP_DIR", "DBT_LOG_PATH"):
        if env.get(name) and not Path(env[name]).is_absolute():
            env[name] = str(PROJECT_DIR / env[name])
    env.setdefault("DBT_LOG_PATH", str(dbt_log_dir()))  # the project's logs/, not the warehouse folder's
    env.setdefault("CX_DUCKDB_TEMP_DIR", "duckdb_tmp")  # beside the warehouse file
    if raw_dir is not None:
        env["CX_RAW_DIR"] = str(Path(raw_dir).resolve())
    env.update(handoff_ledger_env(duckdb_path))
    if test_scope is not None:
        env["CX_TEST_SCOPE"] = test_scope
    if same_settings:
        env["CX_SAME_SETTINGS"] = "1"
    else:
        env.pop("CX_SAME_SETTINGS", None)
    return {"args": [dbt_executable(), *args, "--project-dir", str(PROJECT_DIR)],
            "cwd": str(duckdb_path.parent), "env": env}


def run_dbt(args: list[str], duckdb_path: Path, quiet: bool = False, raw_dir: Path | None = None,
            test_scope: str | None = None, same_settings: bool = False) -> int:
    call = dbt_invocation(args, duckdb_path, raw_dir, test_scope, same_settings)
    return subprocess.call(call["args"], cwd=call["cwd"], env=call["env"],
                           stdout=subprocess.DEVNULL if quiet else None)


@dataclass
class RunResult:
    published: bool
    duckdb_path: Path
    message: str
    timings: dict[str, float] = field(default_factory=dict)
    deliveries: list[dict] = field(default_factory=list)
    health: "Health | None" = None


# ---------------------------------------------------------------------------
# Deliveries: what the landing folder holds against what was published
# ---------------------------------------------------------------------------
def landing_deliveries(raw_dir: Path, only: dict[str, set[str]] | None = None) -> list[dict]:
    """Every delivery of every export with the fingerprint staging uses; with
    `only` (export -> delivery file names), those deliveries alone."""
    rows = []
    for export in load_contract():
        files = export_files(raw_dir, export.name)
        if only is not None:
            files = [p for p in files if p.name in only.get(export.name, ())]
        for p, fp in fingerprints(files).items():
            rows.append({"source_file": export.name, "source_delivery": p.name, "delivery_fingerprint": fp})
    return rows


def published_deliveries(published: Path) -> set[tuple[str, str, str]]:
    if not published.exists():
        return set()
    import duckdb

    try:
        con = duckdb.connect(str(published), read_only=True)
    except duckdb.Error:
        return set()
    try:
        return set(con.execute(
            "select source_file, source_delivery, delivery_fingerprint from marts.dq_load_deliveries").fetchall())
    except duckdb.Error:
        return set()
    finally:
        con.close()


def delivery_plan(raw_dir: Path, published: Path, landing: list[dict] | None = None) -> list[dict]:
    """Per export: deliveries new since the last publish, and those already published."""
    done = published_deliveries(published)
    plan: dict[str, dict] = {}
    for d in landing if landing is not None else landing_deliveries(raw_dir):
        row = plan.setdefault(d["source_file"], {"export": d["source_file"], "new": [], "already": 0})
        if (d["source_file"], d["source_delivery"], d["delivery_fingerprint"]) in done:
            row["already"] += 1
        else:
            row["new"].append(d["source_delivery"])
    return list(plan.values())


def format_plan(plan: list[dict]) -> str:
    lines = ["Deliveries per export (new = not in the published warehouse yet):",
             f"  {'export':<26}{'new':>5}{'already loaded':>16}  new deliveries"]
    for p in plan:
        new = p["new"]
        shown = "-" if not new else (", ".join(new) if len(new) <= 3 else f"{new[0]} .. {new[-1]}")
        lines.append(f"  {p['export']:<26}{len(new):>5}{p['already']:>16}  {shown}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Landing folder the working state was built from
# ---------------------------------------------------------------------------
def _state_meta_path(state: Path) -> Path:
    return state.with_name(state.name + ".json")


def _read_state_meta(state: Path) -> dict:
    try:
        return json.loads(_state_meta_path(state).read_text())
    except (OSError, ValueError):
        return {}


def _write_state_meta(state: Path, meta: dict) -> None:
    tmp = _state_meta_path(state).with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, _state_meta_path(state))


# ---------------------------------------------------------------------------
# The inputs of a run: unchanged since the last publish -> nothing to build
# ---------------------------------------------------------------------------
# What dbt and the pipeline read besides the landing folder and the settings:
# the project's code (tests/python aside) and the engine's versions.
CODE_DIRS = ("models", "macros", "seeds", "tests", "analyses", "cx_warehouse")
CODE_FILES = ("dbt_project.yml", "selectors.yml", "profiles.yml")


def code_fingerprint() -> str:
    from importlib.metadata import version

    h = hashlib.sha256()
    files = [PROJECT_DIR / f for f in CODE_FILES]
    for d in CODE_DIRS:
        files += [p for p in (PROJECT_DIR / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.relative_to(PROJECT_DIR).parts[:2] != ("tests", "python")]
    for path in sorted(files):
        if path.is_file():
            h.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(" ".join(f"{pkg}={version(pkg)}" for pkg in ("dbt-core", "dbt-duckdb", "duckdb")).encode())
    return h.hexdigest()


def _ledger_signature(ledger: Path) -> list | None:
    """The hand-off ledger's batches (it only grows): count, newest and rows."""
    if not ledger.exists():
        return None
    import duckdb

    try:
        con = duckdb.connect(str(ledger), read_only=True)
    except duckdb.Error:
        return ["unreadable"]  # never equal to a readable one: the build reports it
    try:
        return [str(v) for v in con.execute("select count(*), max(batch_id), sum(row_count) from batches").fetchone()]
    except duckdb.Error:
        return ["no batches table"]
    finally:
        con.close()


def forget_published_inputs(state: Path) -> None:
    """Before any build into the state: from then on it no longer holds just the
    published run's result, nor what the last `make run` built it with."""
    meta = _read_state_meta(state)
    if {"published_inputs", "built_settings"} & set(meta):
        _write_state_meta(state, {k: v for k, v in meta.items() if k not in ("published_inputs", "built_settings")})


def run_settings(raw_dir: Path, published: Path, extra_vars: dict | None, selector: str | None,
                 run_gx: bool) -> str:
    """One fingerprint of what a run's result depends on besides the deliveries:
    the folder, the settings, the hand-off ledger and the code."""
    doc = {
        "raw_dir": str(raw_dir), "vars": extra_vars or {}, "selector": selector, "gate": run_gx,
        "handoff_ledger": _ledger_signature(handoff_ledger(published)),
        "code": code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def run_inputs(raw_dir: Path, published: Path, landing: list[dict], extra_vars: dict | None,
               selector: str | None, run_gx: bool, settings: str | None = None) -> str:
    """One fingerprint of everything a run's published result depends on: its
    settings (run_settings, when not given) and its deliveries."""
    doc = {
        "settings": settings or run_settings(raw_dir, published, extra_vars, selector, run_gx),
        "deliveries": sorted((d["source_file"], d["source_delivery"], d["delivery_fingerprint"] or "") for d in landing),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def preflight_checked(published: Path, settings: str) -> set[tuple[str, str, str]]:
    """The deliveries (export, file, fingerprint) a run's preflight need not
    read again (contract.preflight): those of the last publish, when the
    working state was last built with the same settings and code (the folder
    and the contract among them). The first run after any change checks
    every file, and every later run the files new since the publish, so each
    of these passed this preflight (DECISIONLOG 141)."""
    if _read_state_meta(state_path(published)).get("built_settings") != settings:
        return set()
    return published_deliveries(published)


def changed_exports(plan: list[dict], landing: list[dict], published: Path) -> list[str]:
    """The exports with a delivery new, re-sent or gone since the last publish."""
    here = {(d["source_file"], d["source_delivery"]) for d in landing}
    gone = {e for e, d, _ in published_deliveries(published) if (e, d) not in here}
    return sorted({p["export"] for p in plan if p["new"]} | gone)


def node_selection(exports: list[str]) -> list[str]:
    """`dbt build` arguments that run only the nodes downstream of the given
    exports (their staging models read their sources) and of the test-result
    log, with the tests of those nodes (docs/scheduling.md, "What a day runs")."""
    return ["--select", *[f"source:cis.{e}+" for e in exports], "source:dq_runtime.test_results+"]


# ---------------------------------------------------------------------------
# Data health: every warning or error of the run, with sample keys
# ---------------------------------------------------------------------------
_KEY_HINTS = ("primary_key_value", "overlap_key", "meter_id", "account_id", "bill_id", "contact_id",
              "survey_id", "billing_run_id", "source_file")


@dataclass
class Health:
    """What the run's data tests said: how many ran, and each warning or error."""
    tests_run: int = 0
    problems: list[dict] = field(default_factory=list)


def run_health(state: Path) -> Health:
    """The data tests of the last dbt invocation (run_results.json in
    dbt_target_dir(), which the run removes before it starts dbt): how many
    ran, and each warning and error with its failing row count and up to
    three sample keys from the stored failures. No run_results.json, or none
    of its results a test: no test ran."""
    import duckdb

    try:
        results = json.loads((dbt_target_dir() / "run_results.json").read_text())["results"]
        nodes = json.loads((dbt_target_dir() / "manifest.json").read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        return Health()
    tests_run = sum(r["unique_id"].startswith("test.") and r.get("status") in ("pass", "warn", "fail", "error")
                    for r in results)
    out = []
    con = None
    try:
        con = duckdb.connect(str(state), read_only=True)
    except duckdb.Error:
        con = None
    try:
        for r in results:
            if r.get("status") not in ("warn", "fail", "error"):
                continue
            node = nodes.get(r["unique_id"], {})
            samples: list[str] = []
            rel = node.get("relation_name")
            if con is not None and rel and node.get("resource_type") == "test":
                try:
                    cur = con.execute(f"select * from {rel} limit 3")
                    cols = [d[0] for d in cur.description]
                    key = next((c for h in _KEY_HINTS for c in cols if c == h), cols[0] if cols else None)
                    if key is not None:
                        idx = cols.index(key)
                        samples = [f"{key}={row[idx]}" for row in cur.fetchall()]
                except duckdb.Error:
                    samples = []
            out.append({"name": node.get("name", r["unique_id"]), "status": r["status"],
                        "failing_rows": r.get("failures"), "samples": samples,
                        "message": (r.get("message") or "").splitlines()[0] if r.get("message") else ""})
    finally:
        if con is not None:
            con.close()
    return Health(tests_run, out)


def format_health(health: Health) -> str:
    if not health.tests_run and not health.problems:
        return "Data health: no test ran (the run stopped before its tests)."
    if not health.problems:
        return f"Data health: every test passed ({health.tests_run} tests)."
    problems = health.problems
    lines = [f"Data health: {sum(h['status'] == 'warn' for h in problems)} warning(s), "
             f"{sum(h['status'] != 'warn' for h in problems)} error(s)",
             f"  {'status':<7}{'rows':>9}  {'check':<58} sample keys"]
    order = {"error": 0, "fail": 0, "warn": 1}
    for h in sorted(problems, key=lambda h: (order.get(h["status"], 2), h["name"])):
        rows = "-" if h["failing_rows"] is None else str(h["failing_rows"])
        status = "ERROR" if h["status"] in ("fail", "error") else "WARN"
        lines.append(f"  {status:<7}{rows:>9}  {h['name'][:58]:<58} {', '.join(h['samples']) or '-'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
def folder_changed(state: Path, raw_dir: Path) -> str | None:
    """The landing folder the working state was built from, when it is not
    `raw_dir`: the run then rebuilds in full."""
    before = _read_state_meta(state).get("raw_dir")
    return before if state.exists() and before not in (None, str(raw_dir)) else None


def build_command(state: Path, full_refresh: bool, selector: str | None = None,
                  extra_vars: dict | None = None) -> tuple[list[str], str]:
    """A run's `dbt build` arguments and its test scope. The tests of the big
    incremental models read only the latest batch on a scheduled incremental
    run; a full build and the monthly cadence read every row
    (docs/scheduling.md, "Test scope")."""
    incremental = state.exists() and not full_refresh
    test_scope = "batch" if incremental and selector != "monthly" else "full"
    args = ["build", *RUN_EXCLUDES, *(["--vars", json.dumps(extra_vars)] if extra_vars else []),
            *(["--full-refresh"] if full_refresh else []), *(["--selector", selector] if selector else [])]
    return args, test_scope


def build_and_publish(
    raw_dir: Path,
    duckdb_path: Path | None = None,
    extra_vars: dict | None = None,
    run_gx: bool = True,
    quiet: bool = False,
    full_refresh: bool = False,
    selector: str | None = None,
    verbose: bool = False,
) -> RunResult:
    """One run (docs/publishing.md). Prints each phase with its elapsed
    seconds and one progress line during the build (cx_warehouse.progress);
    `verbose` streams dbt's whole log instead, `quiet` prints nothing."""
    from .progress import phase, stream_build

    raw_dir = Path(raw_dir).resolve()
    published = Path(duckdb_path).resolve() if duckdb_path else warehouse_path()
    state = state_path(published)
    timings: dict[str, float] = {}
    out = io.StringIO() if quiet else sys.stdout

    settings = run_settings(raw_dir, published, extra_vars, selector, run_gx)
    with phase("preflight", out) as report:
        problems = preflight(raw_dir, checked=preflight_checked(published, settings))
        report["text"] = "every export present, every delivery with the contract's columns"
        if problems:
            raise ContractError(
                "the CIS exports cannot be loaded; nothing was published:\n  " + "\n  ".join(problems)
            )

    published.parent.mkdir(parents=True, exist_ok=True)
    with RunLock(published):
        clean_stale_publish_files(published)
        before = folder_changed(state, raw_dir)
        if before and not full_refresh:
            if not quiet:
                print(f"The landing folder changed ({before} -> {raw_dir}): full rebuild.")
            full_refresh = True
        with phase("intake", out) as report:
            landing = landing_deliveries(raw_dir)
            plan = delivery_plan(raw_dir, published, landing)
            report["text"] = (f"{sum(len(p['new']) for p in plan)} new deliveries, "
                              f"{sum(p['already'] for p in plan)} already loaded")
        if not quiet:
            print(format_plan(plan))

        inputs = run_inputs(raw_dir, published, landing, extra_vars, selector, run_gx, settings)
        meta = _read_state_meta(state)
        if (not full_refresh and state.exists() and published.exists() and not any(p["new"] for p in plan)
                and meta.get("published_inputs") == inputs):
            if not quiet:
                print("Nothing changed since the last published run (the same deliveries, settings, code and "
                      "survey hand-off ledger): nothing built, the published marts stand.")
            return RunResult(True, published, "unchanged", timings, plan, None)
        forget_published_inputs(state)

        args, test_scope = build_command(state, full_refresh, selector, extra_vars)
        # A node none of whose inputs changed is not run: when the state was last built by
        # `make run` with the same settings and code, only the exports whose deliveries
        # changed since the last publish have anything new for their downstream nodes.
        exports = changed_exports(plan, landing, published) if (
            test_scope == "batch" and not selector and published.exists()
            and meta.get("built_settings") == settings) else []
        if exports:
            args += node_selection(exports)
            if not quiet:
                print(f"build: {len(exports)} of {len(plan)} exports changed since the last publish "
                      f"({', '.join(exports)}); only the models and tests downstream of them run")
        _write_state_meta(state, {**_read_state_meta(state), "built_settings": settings})
        # the run's own results only: a run that stops before dbt writes them has run no test
        (dbt_target_dir() / "run_results.json").unlink(missing_ok=True)
        # the gate's import, on the core dbt's start leaves free, while dbt builds
        gx_import = None
        if run_gx:
            from .gx_checks import preload_great_expectations

            gx_import = preload_great_expectations()
        t0 = time.perf_counter()
        if quiet or verbose:
            rc = run_dbt(args, state, quiet=quiet, raw_dir=raw_dir, test_scope=test_scope,
                         same_settings=bool(exports))
        else:
            print(f"build: dbt build of the working state {state} (dbt's log: {dbt_log_dir() / 'dbt.log'}; "
                  "--verbose shows it here)", flush=True)
            call = dbt_invocation([*args, "--log-format", "json", "--log-format-file", "debug"], state,
                                  raw_dir, test_scope, same_settings=bool(exports))
            rc = stream_build(call)
        timings["dbt_build_s"] = time.perf_counter() - t0
        health = run_health(state)
        if not quiet:
            print(format_health(health))
        if rc != 0:
            publish(state, published, health_only=True, manifest=dbt_target_dir() / "manifest.json")
            return RunResult(False, published, f"dbt build failed (exit {rc}); the published marts were left unchanged",
                             timings, plan, health)
        # the state now holds this folder's deliveries: a build that failed (after a
        # folder change, half rebuilt) leaves the old folder here, so the next run
        # rebuilds in full again
        _write_state_meta(state, {"raw_dir": str(raw_dir), "built_settings": settings})

        if run_gx:
            from .gx_checks import format_summary, run_checkpoint

            t0 = time.perf_counter()
            gx_import.join()
            results_dir = gx_results_dir()
            # a scheduled run's gate checks what it changed: the raw suite the deliveries
            # it loads (new since the last publish), the marts suite the marts whose rows
            # are not the published ones; a full build and the monthly cadence, everything
            new = {p["export"]: set(p["new"]) for p in plan}
            changed = changed_since_publish(state, published) if test_scope == "batch" else None
            with phase("gate", out) as report:
                outcome = run_checkpoint(state, raw_dir, results_dir, only_deliveries=new, only_marts=changed)
                report["text"] = ("passed" if outcome.success else "FAILED") + (
                    "" if changed is None else f" (marts: {len(changed)} changed since the last publish, checked)")
            timings["gx_checkpoint_s"] = time.perf_counter() - t0
            if not quiet:
                print(format_summary(outcome, failures_only=True))
                print(f"  (all results as JSON in {results_dir})")
            if not outcome.success:
                return RunResult(False, published, "the Great Expectations checkpoint failed; the published marts were left unchanged",
                                 timings, plan, health)

        t0 = time.perf_counter()
        with phase("publish", out) as report:
            actions = publish(state, published, manifest=dbt_target_dir() / "manifest.json")
            report["text"] = f"{published} (marts: {summarise(actions)})"
        timings["publish_s"] = time.perf_counter() - t0
        _write_state_meta(state, {"raw_dir": str(raw_dir), "published_inputs": inputs, "built_settings": settings})
    return RunResult(True, published, "published", timings, plan, health)
