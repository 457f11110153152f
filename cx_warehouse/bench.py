"""Benchmark: the warehouse at a utility's size, against floors measured in the same run.

    python -m cx_warehouse.bench                                  # default: 20,000 premises x 1 year, Parquet
    python -m cx_warehouse.bench --accounts 1000000 --start 2024-01-01 --end 2025-12-31
    python -m cx_warehouse.bench --data /path/to/deliveries       # reuse a generated delivery folder

One run, one machine state, so that the ratios hold on a noisy machine:

1. generate the exports as daily deliveries (Parquet or CSV), unless --data;
2. floors, in one DuckDB process with the profile's limits: each export read
   and typed into a table (the "typed scan"), and for CSV the parse alone;
3. the full `dbt build` (every model and test) over every day but the last;
4. dbt's own overhead: the SQL dbt executed in step 3, replayed in order in
   one DuckDB process (python API) on a copy of the inputs (--no-replay skips it);
5. the Great Expectations checkpoint on that warehouse, then its publish
   (cx_warehouse.publish: a first publish writes every mart);
6. the day as `make run` starts it (the preflight of the files not checked
   before, the intake's plan), then the daily incremental `dbt build` that
   adds the last day (test_scope batch,
   the nodes downstream of the exports it changed), its gate (what changed,
   unless --no-gx) and its publish (what changed);
7. per slow model, the floor of its inputs: a typed scan of the input rows
   (the export for a staging model, a copy of each parent table otherwise),
   last because copying the big parents takes minutes at a million accounts.

Each phase's figures land in bench_<accounts>.partial.json as it ends.

Prints one Markdown table (figure, target, measured, ratio, floor), the slowest
models with their floors and the peak memory of each phase, and writes the
figures as JSON beside the warehouse (`--baseline` compares model times with
an earlier run: growth per model). Not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from .contract import PROJECT_DIR, export_files, load_contract, preflight, sql_literal
from .pipeline import (RUN_EXCLUDES, changed_exports, dbt_invocation, delivery_plan, landing_deliveries, node_selection,
                       published_deliveries)

GB = 1024 ** 3
# issue 7's targets (absolute times hold for 1 M premises x two years)
TARGET_BUILD_S = 300.0
TARGET_GENERATE_S = 300.0
TARGET_MEMORY_B = 12 * GB
TARGET_GX_MEMORY_B = 2 * GB
TARGET_INCREMENTAL_SHARE = 0.05
TARGET_MODEL_FLOOR_RATIO = 5.0
TARGET_GX_SHARE = 0.10
TARGET_DBT_OVERHEAD = 1.2
TARGET_GROWTH = 12.0

_TYPES = {"date": "date", "timestamp": "timestamp", "decimal": "decimal(18, 4)",
          "integer": "bigint", "boolean": "boolean"}


class BenchError(Exception):
    """A phase could not complete (the figures so far are in the partial JSON)."""


def _hwm(pid: int) -> int:
    """Peak resident memory (VmHWM) of a running process since its exec, in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured(cmd: list[str], env: dict | None = None, quiet: bool = True,
             cwd: Path | str = PROJECT_DIR) -> tuple[int, float, int]:
    """Run a command; (exit code, wall seconds, peak RSS in bytes).

    The peak is the child's own high-water mark (/proc/<pid>/status VmHWM,
    polled): getrusage's ru_maxrss would include the memory this process had
    when it forked, which the in-process DuckDB phases (floors, replay) inflate.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL if quiet else None,
                            stderr=subprocess.DEVNULL if quiet else None)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _hwm(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    return proc.returncode, wall, peak


def duckdb_settings() -> dict[str, str]:
    """The limits profiles.yml gives dbt, for the floors and the replay (the spill
    folder made if missing: DuckDB does not create its parents)."""
    temp_directory = os.environ.get("CX_DUCKDB_TEMP_DIR", str(PROJECT_DIR / "warehouse" / "duckdb_tmp"))
    Path(temp_directory).mkdir(parents=True, exist_ok=True)
    return {
        "memory_limit": os.environ.get("CX_DUCKDB_MEMORY_LIMIT", "10GB"),
        "threads": os.environ.get("CX_DUCKDB_THREADS", "2"),
        "temp_directory": temp_directory,
    }


def _connect(path: str):
    import duckdb

    return duckdb.connect(path, config=duckdb_settings())


def _reader(files: list[Path]) -> str:
    parquet = [str(p) for p in files if p.suffix == ".parquet"]
    csv = [str(p) for p in files if p.suffix == ".csv"]
    parts = []
    if parquet:
        parts.append(f"select * from read_parquet([{', '.join(map(sql_literal, parquet))}], union_by_name = true)")
    if csv:
        parts.append(f"select * from read_csv([{', '.join(map(sql_literal, csv))}], header = true, all_varchar = true, union_by_name = true, "
                     "ignore_errors = true, strict_mode = true, quote = '\"', escape = '\"')")
    return " union all by name ".join(parts)


def export_floors(raw_dir: Path, db_path: Path) -> dict[str, dict]:
    """Per export: seconds to read every delivery and type it into a table
    (try_cast to the contract types), and for CSV the seconds to parse it
    (every value touched) without typing; the row count."""
    con = _connect(str(db_path))
    out = {}
    try:
        for export in load_contract():
            files = export_files(raw_dir, export.name)
            if not files:
                continue
            cols = ", ".join(
                f'try_cast("{c.name}" as {_TYPES[c.cis_type]}) as "{c.name}"' if c.cis_type in _TYPES
                else f'cast("{c.name}" as varchar) as "{c.name}"' for c in export.columns)
            t0 = time.perf_counter()
            con.execute(f"create or replace table floor_{export.name} as select {cols} from ({_reader(files)})")
            typed = time.perf_counter() - t0
            rows = con.execute(f"select count(*) from floor_{export.name}").fetchone()[0]
            con.execute(f"drop table floor_{export.name}")
            parse = None
            if any(p.suffix == ".csv" for p in files):
                touched = " + ".join(f'coalesce(length("{c.name}"), 0)' for c in export.columns)
                t0 = time.perf_counter()
                con.execute(f"select count(*), sum({touched}) from ({_reader(files)})").fetchall()
                parse = time.perf_counter() - t0
            out[export.name] = {"typed_scan_s": typed, "parse_s": parse, "rows": rows}
    finally:
        con.close()
        for f in (db_path, Path(str(db_path) + ".wal")):
            f.unlink(missing_ok=True)
    return out


def model_floors(state: Path, manifest: dict, models: list[str], floors: dict[str, dict],
                 on_each=None) -> dict[str, float]:
    """Floor of each model: a typed scan of its input rows - the export's
    typed scan for a staging model, a copy of each parent table otherwise
    (timed on a read-only attach of the built warehouse). A model whose parent
    cannot be copied (out of disk at a million accounts, say) gets no floor."""
    import duckdb

    con = _connect(":memory:")
    out: dict[str, float] = {}
    try:
        # under the catalog name dbt gave it (the file's stem), so that views inside it resolve
        wh = state.stem
        con.execute(f"attach {sql_literal(state)} as \"{wh}\" (read_only)")
        nodes = manifest["nodes"]
        for uid in models:
            node = nodes[uid]
            total = 0.0
            for parent in node["depends_on"]["nodes"]:
                if parent.startswith("source."):
                    total += floors.get(parent.split(".")[-1], {}).get("typed_scan_s", 0.0)
                    continue
                p = nodes.get(parent)
                if p is None or p["resource_type"] not in ("model", "seed"):
                    continue
                t0 = time.perf_counter()
                try:
                    con.execute(f'create or replace temp table floor_copy as select * from "{wh}"."{p["schema"]}"."{p["alias"]}"')
                except duckdb.Error as exc:  # a full disk, say: this floor is not measured, the others and the report still are
                    print(f"model floor of {node['name']}: not measured (copying {p['name']}: "
                          f"{(str(exc).splitlines() or [type(exc).__name__])[0]})", file=sys.stderr, flush=True)
                    total = None
                    break
                total += time.perf_counter() - t0
                con.execute("drop table floor_copy")
            if total is None:
                continue
            if node["fqn"][1] == "staging" and not any(d.startswith("source.") for d in node["depends_on"]["nodes"]):
                # staging reads its export's files through cis_read_files (no ref to the source view)
                name = "raw_" + node["name"].split("__", 1)[1]
                total += floors.get(name, {}).get("typed_scan_s", 0.0)
            out[uid] = total
            if on_each:
                on_each(out)
    finally:
        con.close()
    return out


def replay(state: Path, target: Path, results: list[dict], workdir: Path) -> tuple[float, int, int, list[str]]:
    """dbt's own overhead: execute the SQL dbt ran (target/run, in completion
    order) in one DuckDB process, on a fresh database holding the same source
    views and seeds. Returns (seconds, statements run, statements skipped, errors)."""
    replay_dir = workdir / "replay"
    shutil.rmtree(replay_dir, ignore_errors=True)
    replay_dir.mkdir(parents=True)
    db = replay_dir / state.name  # same file name: the compiled SQL names the catalog after it
    con = _connect(str(db))
    ran = skipped = 0
    errors: list[str] = []
    try:
        con.execute(f"attach {sql_literal(state)} as wh (read_only)")
        catalog = state.stem
        schemas = [r[0] for r in con.execute(
            "select distinct schema_name from duckdb_tables() where database_name = 'wh'").fetchall()]
        for s in schemas + ["cis"]:
            con.execute(f'create schema if not exists "{s}"')
        for (sql,) in con.execute("select sql from duckdb_views() where database_name = 'wh' and schema_name = 'cis'").fetchall():
            con.execute(sql)
        seeds = [r for r in results if r["unique_id"].startswith("seed.")]
        man = json.loads((target / "manifest.json").read_text())
        for r in seeds:
            n = man["nodes"][r["unique_id"]]
            con.execute(f'create table "{n["schema"]}"."{n["alias"]}" as select * from wh."{n["schema"]}"."{n["alias"]}"')
        # source tables other than the exports (the run log the on-run-start hook creates)
        for src in man["sources"].values():
            if src["schema"] != "cis":
                con.execute(f'create schema if not exists "{src["schema"]}"')
                con.execute(f'create table "{src["schema"]}"."{src["identifier"]}" as '
                            f'select * from wh."{src["schema"]}"."{src["identifier"]}"')
        con.execute("detach wh")
        con.execute(f"use \"{catalog}\"")
        t0 = time.perf_counter()
        for r in results:
            uid = r["unique_id"]
            node = man["nodes"].get(uid)
            if node is None or node["resource_type"] not in ("model", "test"):
                continue
            path = target / "run" / node["package_name"] / node["original_file_path"]
            if node["resource_type"] == "test" and not path.is_file():
                path = target / "run" / node["package_name"] / node["original_file_path"] / (node["alias"] + ".sql")
            if not path.is_file():
                skipped += 1
                continue
            sql = path.read_text()
            try:
                con.execute(sql)
                if node["resource_type"] == "test" and node["config"].get("store_failures") \
                        and r["status"] in ("warn", "fail", "error"):
                    # the test counts first (the run file); one that warns or errors then
                    # stores its failing rows (macros/data_quality/test_materialization.sql)
                    audit = node["schema"]
                    con.execute(f'create schema if not exists "{audit}"')
                    con.execute(f'create or replace table "{audit}"."{node["alias"]}" as {r["compiled_code"]}')
                if node["resource_type"] == "model":
                    _finish_relation(con, node["schema"], node["alias"])
                ran += 1
            except Exception as exc:  # counted and reported, not timed apart
                skipped += 1
                errors.append(f"{uid}: {str(exc).splitlines()[0][:200]}")
        seconds = time.perf_counter() - t0
    finally:
        con.close()
        shutil.rmtree(replay_dir, ignore_errors=True)
    return seconds, ran, skipped, errors


def _finish_relation(con, schema: str, alias: str) -> None:
    """dbt builds a table or view as <alias>__dbt_tmp and renames it (the
    rename is not in the run file): do the same."""
    tmp = alias + "__dbt_tmp"
    for kind, catalog_view in (("table", "duckdb_tables()"), ("view", "duckdb_views()")):
        found = con.execute(f"select count(*) from {catalog_view} where schema_name = ? and "
                            f"{'table_name' if kind == 'table' else 'view_name'} = ?", [schema, tmp]).fetchone()[0]
        if found:
            con.execute(f'drop {kind} if exists "{schema}"."{alias}"')
            con.execute(f'alter {kind} "{schema}"."{tmp}" rename to "{alias}"')


def _dbt_build(landing: Path, state: Path, target: Path, scope: str,
               extra: tuple[str, ...] = (), same_settings: bool = False) -> tuple[int, float, int, list[dict], dict]:
    # as `make run` calls dbt (pipeline.dbt_invocation): the daily build
    # starts from the full build's saved parse, as a scheduled run does
    call = dbt_invocation(["build", *extra, "--target-path", str(target)], state, raw_dir=landing, test_scope=scope,
                          same_settings=same_settings)
    call["env"]["CX_DUCKDB_TEMP_DIR"] = duckdb_settings()["temp_directory"]
    (target / "run_results.json").unlink(missing_ok=True)
    rc, wall, rss = measured(call["args"], call["env"], cwd=call["cwd"])
    if not (target / "run_results.json").is_file():
        raise BenchError(f"dbt build exited {rc} after {wall:,.0f} s without writing run_results.json "
                         f"(crashed or killed; see logs/dbt.log)")
    results = json.loads((target / "run_results.json").read_text())["results"]
    manifest = json.loads((target / "manifest.json").read_text())
    return rc, wall, rss, results, manifest


def _publish_timed(state: Path, published: Path, target: Path, phases: dict, name: str) -> float:
    """The run's publish step (cx_warehouse.publish) on the bench's state, timed in-process."""
    from .publish import publish, summarise

    t0 = time.perf_counter()
    actions = publish(state, published, manifest=target / "manifest.json")
    seconds = time.perf_counter() - t0
    phases[name] = {"seconds": seconds, "peak_rss": None, "marts": summarise(actions)}
    return seconds


def _link_tree(src: Path, dst: Path, skip_suffix: str | None = None) -> list[Path]:
    """Hard-link (copy when linking fails) src into dst; files named
    `<skip_suffix>*` (the deliveries of that day) are held back and returned."""
    held = []
    for f in sorted(src.rglob("*")):
        if f.is_dir():
            continue
        rel = f.relative_to(src)
        if skip_suffix and f.parent != src and f.name.startswith(skip_suffix):
            held.append(rel)
            continue
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, out)
        except OSError:
            shutil.copy2(f, out)
    return held


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f} s"


def _fmt_b(v: float | None) -> str:
    return "-" if v is None else f"{v / GB:,.2f} GB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cx_warehouse.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=20000, help="premises to generate (default 20000)")
    p.add_argument("--start", default="2025-01-01")
    p.add_argument("--end", default="2025-12-31")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    p.add_argument("--data", help="an existing delivery folder (generator --layout deliveries) instead of generating")
    p.add_argument("--workdir", default=str(PROJECT_DIR / "bench" / "out"))
    p.add_argument("--no-gx", action="store_true", help="skip the Great Expectations checkpoint")
    p.add_argument("--no-replay", action="store_true", help="skip the dbt-overhead replay")
    p.add_argument("--baseline", help="bench JSON of an earlier (smaller) run: report each model's growth")
    p.add_argument("--keep", action="store_true", help="keep the generated deliveries and the warehouse")
    args = p.parse_args(argv)
    try:
        return run(args)
    except BenchError as exc:
        print(f"bench stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run(args) -> int:
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    figures: dict = {"accounts": args.accounts, "start": args.start, "end": args.end, "format": args.format,
                     "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GB:.0f} GB RAM, "
                                f"Python {platform.python_version()}",
                     "duckdb": duckdb_settings()}
    phases: dict[str, dict] = {}

    def save_progress() -> None:
        """The figures so far (a long run can be stopped and still report)."""
        progress = work / f"bench_{figures['accounts']}.partial.json"  # the composed folder's size with --data
        progress.write_text(json.dumps({**figures, "phases": phases}, indent=1, default=str))

    if args.data:
        data = Path(args.data).resolve()
        manifest_path = data / "_manifest.json"
        if manifest_path.is_file():
            m = json.loads(manifest_path.read_text())
            params = m.get("params", m)  # a generator manifest, or a composed one with the same keys on top
            figures.update({k: params.get(k, figures.get(k)) for k in ("start", "end", "accounts", "format")})
    else:
        data = work / f"deliveries_{args.accounts}_{args.format}"
        shutil.rmtree(data, ignore_errors=True)
        cmd = [sys.executable, "-m", "cx_warehouse.generator", "--out", str(data), "--accounts", str(args.accounts),
               "--start", args.start, "--end", args.end, "--seed", str(args.seed), "--format", args.format,
               "--layout", "deliveries"]
        rc, wall, rss = measured(cmd)
        if rc != 0:
            print(f"the generator failed (exit {rc}): {' '.join(cmd)}", file=sys.stderr)
            return 1
        phases["generate"] = {"seconds": wall, "peak_rss": rss}
    last = figures["end"]

    landing = work / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    held = _link_tree(data, landing, skip_suffix=last)
    state = work / "bench.duckdb"
    for f in (state, Path(str(state) + ".wal")):
        f.unlink(missing_ok=True)
    target = work / "target"

    print(f"floors: typed scans of {landing} ...", flush=True)
    t0 = time.perf_counter()
    floors = export_floors(landing, work / "floor.duckdb")
    phases["floors"] = {"seconds": time.perf_counter() - t0, "peak_rss": None}
    figures["export_floors"] = floors
    save_progress()
    floor_scan = sum(f["typed_scan_s"] for f in floors.values())
    parse_floor = sum(f["parse_s"] or 0 for f in floors.values()) if args.format == "csv" else None
    rows_in = sum(f["rows"] for f in floors.values())
    figures["reads"] = floors.get("raw_ami_daily_reads", {}).get("rows", 0)

    print("full dbt build ...", flush=True)
    rc_full, full_s, full_rss, full_results, manifest = _dbt_build(landing, state, target, "full")
    phases["dbt build (full)"] = {"seconds": full_s, "peak_rss": full_rss}
    figures.update({"floor_typed_scan_s": floor_scan, "full_build_s": full_s, "full_build_rc": rc_full,
                    "full_results": [[r["unique_id"], r["execution_time"]] for r in full_results]})
    save_progress()

    replay_s = None
    if not args.no_replay:
        print("replay of dbt's SQL in one DuckDB process ...", flush=True)
        t_replay, ran, skipped, errors = replay(state, target, full_results, work)
        replay_s = t_replay
        figures["replay_statements"] = {"ran": ran, "skipped": skipped, "errors": errors[:20]}
        phases["replay (one DuckDB process)"] = {"seconds": t_replay, "peak_rss": None}
        save_progress()

    def node_time(results):
        return {r["unique_id"]: r["execution_time"] for r in results}

    full_times = node_time(full_results)
    models = [u for u in sorted(full_times, key=lambda u: -full_times[u]) if u.startswith("model.")][:10]

    gx_s = gx_rss = None
    gx_ok = None
    if not args.no_gx:
        print("Great Expectations checkpoint ...", flush=True)
        rc_gx, gx_s, gx_rss = measured([sys.executable, "-m", "cx_warehouse.gx_checks", "--duckdb", str(state),
                                        "--raw-dir", str(landing), "--results-dir", str(work / "gx_results")])
        gx_ok = rc_gx == 0
        phases["GX checkpoint"] = {"seconds": gx_s, "peak_rss": gx_rss}
        save_progress()

    published = work / "bench.published.duckdb"
    for f in (published, Path(str(published) + ".wal")):
        f.unlink(missing_ok=True)
    pub_first_s = _publish_timed(state, published, target, phases, "publish (first: every mart)")
    save_progress()

    print(f"incremental dbt build adding {last} ...", flush=True)
    for rel in held:
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(data / rel, landing / rel)
    # as `make run` starts a day: the preflight of the files not checked before (the
    # published ones were, by the full build's run of the same code: DECISIONLOG 141),
    # then the intake's plan, which selects the day's nodes (DECISIONLOG 124): the
    # exports whose deliveries changed since the publish of the full build
    t0 = time.perf_counter()
    problems = preflight(landing, checked=published_deliveries(published))
    if problems:
        raise BenchError("the day's preflight failed: " + "; ".join(problems[:5]))
    landing_now = landing_deliveries(landing)
    plan = delivery_plan(landing, published, landing_now)
    changed = changed_exports(plan, landing_now, published)
    intake_day_s = time.perf_counter() - t0
    phases["preflight and intake (one more day)"] = {"seconds": intake_day_s, "peak_rss": None}
    figures["day_changed_exports"] = changed
    figures["intake_day_s"] = intake_day_s
    # the same settings and code as the full build: as `make run` when it selects by export
    rc_day, day_s, day_rss, day_results, _ = _dbt_build(landing, state, target, "batch",
                                                        (*RUN_EXCLUDES, *(node_selection(changed) if changed else ())),
                                                        same_settings=bool(changed))
    phases["dbt build (one more day)"] = {"seconds": day_s, "peak_rss": day_rss}
    figures.update({"incremental_s": day_s, "incremental_rc": rc_day,
                    "incremental_results": [[r["unique_id"], r["execution_time"]] for r in day_results]})
    gate_day_s = None
    if not args.no_gx and rc_day == 0:
        # the day's gate as `make run` scopes it (DECISIONLOG 125): the new deliveries, the changed marts
        from .gx_checks import run_checkpoint
        from .publish import changed_since_publish

        print("the day's Great Expectations gate ...", flush=True)
        t0 = time.perf_counter()
        new = {p["export"]: set(p["new"]) for p in plan}
        run_checkpoint(state, landing, work / "gx_results_day", only_deliveries=new,
                       only_marts=changed_since_publish(state, published))
        gate_day_s = time.perf_counter() - t0
        phases["GX gate (one more day)"] = {"seconds": gate_day_s, "peak_rss": None}
    pub_day_s = _publish_timed(state, published, target, phases, "publish (one more day)") if rc_day == 0 else None
    figures.update({"publish_first_s": pub_first_s, "publish_day_s": pub_day_s, "gate_day_s": gate_day_s})
    save_progress()

    # Last, because at a million accounts copying the big parents takes minutes
    # and the build, GX and the day matter more if a long run is stopped. The
    # parents then hold one day more than the full build read (1/365 or less).
    print("model floors ...", flush=True)
    t0 = time.perf_counter()

    def floors_so_far(done: dict[str, float]) -> None:
        figures["model_floors_s"] = {u.split(".")[-1]: v for u, v in done.items()}
        save_progress()

    mfloors = model_floors(state, manifest, models, floors, on_each=floors_so_far)
    phases["model floors"] = {"seconds": time.perf_counter() - t0, "peak_rss": None}

    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None
    figures.update({
        "rows_in": rows_in, "floor_typed_scan_s": floor_scan, "parse_floor_s": parse_floor,
        "full_build_s": full_s, "full_build_rc": rc_full, "gx_s": gx_s, "gx_ok": gx_ok,
        "incremental_s": day_s, "incremental_rc": rc_day, "replay_s": replay_s, "phases": phases,
        "models": {u.split(".")[-1]: {"seconds": full_times[u], "floor_s": mfloors.get(u)} for u in models},
        "incremental_slowest": [[r["unique_id"], r["execution_time"]] for r in
                                sorted(day_results, key=lambda r: -r["execution_time"])[:8]],
        "export_floors": floors,
    })
    out_json = work / f"bench_{figures['accounts']}.json"
    out_json.write_text(json.dumps(figures, indent=1, default=str))
    print(report(figures, baseline))
    print(f"\n(figures as JSON: {out_json})")
    if not args.keep:
        shutil.rmtree(landing, ignore_errors=True)
        if not args.data:
            shutil.rmtree(data, ignore_errors=True)
    return 0 if rc_full == 0 and rc_day == 0 else 1


def report(f: dict, baseline: dict | None = None) -> str:
    full, gx, day, floor = f["full_build_s"], f["gx_s"], f["incremental_s"], f["floor_typed_scan_s"]
    build_gx = full + (gx or 0)
    two_years = (date.fromisoformat(str(f["end"])) - date.fromisoformat(str(f["start"]))).days >= 700
    big = f["accounts"] >= 1_000_000 and two_years
    scale_note = "" if big else " (target holds at 1 M x 2 years)"
    rows = []

    def row(figure, target, measured, ratio, floor_text, ok):
        mark = "" if ok is None else (" ✓" if ok else " ✗")
        rows.append(f"| {figure} | {target} | {measured} | {ratio}{mark} | {floor_text} |")

    gen = f["phases"].get("generate")
    if gen:
        row("generator, Parquet/CSV deliveries", f"≤ {TARGET_GENERATE_S:.0f} s{scale_note}", _fmt_s(gen["seconds"]),
            f"{gen['seconds'] / TARGET_GENERATE_S:.2f} of target", "-", gen["seconds"] <= TARGET_GENERATE_S if big else None)
    row("full build + tests + GX", f"≤ {TARGET_BUILD_S:.0f} s{scale_note}", _fmt_s(build_gx),
        f"{build_gx / floor:.1f}x floor", f"typed scan of all exports {_fmt_s(floor)}", build_gx <= TARGET_BUILD_S if big else None)
    if f.get("parse_floor_s"):
        over = build_gx - f["parse_floor_s"]
        row("CSV: build + tests + GX minus parse floor", "≤ 300 s", _fmt_s(over),
            f"{build_gx / f['parse_floor_s']:.1f}x parse floor", f"CSV parse {_fmt_s(f['parse_floor_s'])}", over <= 300 if big else None)
    peak = f["phases"]["dbt build (full)"]["peak_rss"]
    row("peak memory, full build", "≤ 12 GB", _fmt_b(peak), f"{peak / TARGET_MEMORY_B:.2f} of target", "-", peak <= TARGET_MEMORY_B)
    row("daily incremental build (tests incl.)", "≤ 5% of full build", _fmt_s(day), f"{day / full:.1%} of full",
        f"full build {_fmt_s(full)}", day <= TARGET_INCREMENTAL_SHARE * full)
    if f.get("publish_day_s") is not None:
        goal = 150 if f["accounts"] >= 1_000_000 else 45 if f["accounts"] >= 100_000 else None
        run_s = day + f["publish_day_s"] + (f.get("gate_day_s") or 0) + (f.get("intake_day_s") or 0)
        row("the day: " + ("preflight and intake + " if f.get("intake_day_s") is not None else "") + "build + "
            + ("gate + " if f.get("gate_day_s") is not None else "") + "publish",
            f"≤ {goal} s" + ("" if two_years else " (target at two years)") if goal else "-", _fmt_s(run_s),
            f"{run_s / goal:.2f} of target" if goal else "-", f"full build {_fmt_s(full)}",
            run_s <= goal if goal and two_years else None)
        row("publish of the day vs a first publish (every mart)", "what changed", _fmt_s(f["publish_day_s"]),
            f"{f['publish_day_s'] / f['publish_first_s']:.2f}x", f"first publish {_fmt_s(f['publish_first_s'])}", None)
    worst = max(((m, v["seconds"] / v["floor_s"]) for m, v in f["models"].items() if v.get("floor_s")),
                key=lambda x: x[1], default=(None, None))
    if worst[0]:
        row(f"slowest model vs its floor ({worst[0]})", "≤ 5x", _fmt_s(f["models"][worst[0]]["seconds"]),
            f"{worst[1]:.1f}x", f"input typed scan {_fmt_s(f['models'][worst[0]]['floor_s'])}", worst[1] <= TARGET_MODEL_FLOOR_RATIO)
    if gx is not None:
        row("GX checkpoint time", "≤ 10% of build", _fmt_s(gx), f"{gx / full:.1%} of build", f"full build {_fmt_s(full)}",
            gx <= TARGET_GX_SHARE * full)
        grss = f["phases"]["GX checkpoint"]["peak_rss"]
        row("GX checkpoint peak memory", "≤ 2 GB", _fmt_b(grss), f"{grss / TARGET_GX_MEMORY_B:.2f} of target", "-",
            grss <= TARGET_GX_MEMORY_B)
    if f.get("replay_s"):
        row("dbt overhead: dbt build vs its SQL in one process", "≤ 1.2x", _fmt_s(full), f"{full / f['replay_s']:.2f}x",
            f"replay {_fmt_s(f['replay_s'])}", full / f["replay_s"] <= TARGET_DBT_OVERHEAD)
    lines = [
        f"### {f['accounts']:,} premises, {f['start']} .. {f['end']}, {f['format']} deliveries",
        "",
        f"Machine: {f['machine']}; DuckDB memory_limit {f['duckdb']['memory_limit']}, threads {f['duckdb']['threads']}; "
        f"{f['rows_in']:,} raw rows of which {f['reads']:,} smart-meter reads; exit codes full/day = "
        f"{f['full_build_rc']}/{f['incremental_rc']}; GX passed: {f['gx_ok']}",
        "",
        "| figure | target | measured | ratio | floor |",
        "|---|---|---:|---:|---|",
        *rows,
        "",
        "Slowest models of the full build:",
        "",
        "| model | seconds | floor (typed scan of its inputs) | ratio |" + (" growth vs baseline |" if baseline else ""),
        "|---|---:|---:|---:|" + ("---:|" if baseline else ""),
    ]
    for m, v in f["models"].items():
        ratio = f"{v['seconds'] / v['floor_s']:.1f}x" if v.get("floor_s") else "-"
        line = f"| {m} | {v['seconds']:,.1f} | {_fmt_s(v.get('floor_s'))} | {ratio} |"
        if baseline:
            b = baseline.get("models", {}).get(m)
            line += f" {v['seconds'] / b['seconds']:.1f}x |" if b and b["seconds"] > 0 else " - |"
        lines.append(line)
    if f.get("day_changed_exports") is not None:
        lines += ["", f"The day ran the nodes downstream of {len(f['day_changed_exports'])} exports "
                      f"({', '.join(f['day_changed_exports'])}): {len(f.get('incremental_results') or [])} nodes "
                      f"(the full build: {len(f.get('full_results') or [])})."]
    lines += ["", "Slowest nodes of the incremental day:", "", "| node | seconds |", "|---|---:|"]
    for uid, s in f["incremental_slowest"]:
        parts = uid.split(".")
        lines.append(f"| {(parts[-2] if parts[0] in ('test', 'unit_test') else parts[-1])[:70]} | {s:,.1f} |")
    lines += ["", "Phases:", "", "| phase | seconds | peak memory |", "|---|---:|---:|"]
    for name, ph in f["phases"].items():
        marts = f" (marts: {ph['marts']})" if ph.get("marts") else ""
        lines.append(f"| {name}{marts} | {ph['seconds']:,.1f} | {_fmt_b(ph['peak_rss'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
