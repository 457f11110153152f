"""Great Expectations gate of the CX warehouse: only what dbt's build does not check
(docs/data-quality.md, "The Great Expectations gate"). Staging applies every
row rule of the CIS contract once and dbt tests hold each mart to its yml;
after ``dbt build``, this checkpoint (``cx_data_quality``) checks:

- ``cis_raw_exports``: each delivery of the landing folder is staged, in the
  version on disk (the rows one rule may reject are bounded by a dbt test,
  assert_rejected_rows_per_rule_within_tolerance);
- ``cx_published_marts``: no personal data in any table of schema marts
  (column names, e-mail and phone values), and the metric rules no dbt test
  carries (gx/checkpoint.yml, ``marts.rules``).

DuckDB counts over every row (read only); GX judges the counts and the
candidate values. ``python -m cx_warehouse.gx_checks --duckdb FILE --raw-dir
DIR --results-dir DIR`` exits 1 when an expectation fails, 2 when it cannot run.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

# Must be set before great_expectations is imported (lazily: it is slow to import).
os.environ["GX_ANALYTICS_ENABLED"] = "False"

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from cx_warehouse import contract  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_DIR / "gx" / "checkpoint.yml"
DEFAULT_RESULTS_DIR = PROJECT_DIR / "gx" / "uncommitted" / "validations"

RAW_SUITE = "cis_raw_exports"
MARTS_SUITE = "cx_published_marts"
SUITE_CHOICES = {"raw": (RAW_SUITE,), "marts": (MARTS_SUITE,), "all": (RAW_SUITE, MARTS_SUITE)}
REDACTED = "<redacted>"
OUTCOME_FILE = "checkpoint_outcome.json"
PERSONAL = {"personal_data": True}
# Column types whose values cannot hold an e-mail address or a phone number as text.
_NON_TEXT_TYPE = re.compile(
    r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL.*|DATE|TIME.*|TIMESTAMP.*|INTERVAL|UUID)$", re.IGNORECASE)
# A look-around group (RE2 has none), without nested groups.
_LOOK_AROUND = re.compile(r"\(\?<?[=!](?:\\.|\[(?:\\.|[^\]\\])*\]|[^()\\\[])*\)")


@dataclass
class ExpectationOutcome:
    suite: str
    table: str
    check: str  # deliveries, rejected rows per rule, rules, column names, text values
    expectation_type: str
    column: str | None
    unexpected_count: int | None  # rows (or values) failing
    success: bool
    element_count: int | None = None
    description: str | None = None
    details: str = ""
    raised_exception: bool = False

    @property
    def status(self) -> str:
        return "ERROR" if self.raised_exception else ("PASS" if self.success else "FAIL")


@dataclass
class CheckpointOutcome:
    success: bool
    results: list[ExpectationOutcome]
    result_files: list[Path] = field(default_factory=list)
    checkpoint_name: str = "cx_data_quality"

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]


@dataclass
class Batch:  # a frame and its expectations (meta cx_table: the table an expectation is about)
    suite: str
    table: str
    check: str
    frame: pd.DataFrame
    expectations: list = field(default_factory=list)
    note: str = ""


def load_config(path: Path | str | None = None) -> dict[str, Any]:
    cfg = yaml.safe_load(Path(path or DEFAULT_CONFIG).read_text(encoding="utf-8"))
    for key in ("marts", "personal_data"):
        if key not in cfg:
            raise ValueError(f"{path or DEFAULT_CONFIG}: missing section '{key}'")
    return cfg


def personal_data_columns(sources_yml: Path = contract.SOURCES_YML) -> set[tuple[str, str]]:
    """(export, column) pairs the CIS contract flags as personal data (meta personal_data)."""
    return {(e.name, c.name) for e in contract.load_contract(sources_yml) for c in e.columns if c.personal}


def re2_superset(regex: str) -> str:
    """The regex without its look-arounds: it matches every text the regex matches, and a few more."""
    return _LOOK_AROUND.sub("", regex)


def raw_batches(con: duckdb.DuckDBPyConnection, raw_dir: Path, cfg: dict,
                only: dict[str, set[str]] | None = None) -> Iterator[Batch]:
    """With `only` (export -> delivery file names), only those deliveries are
    validated: a scheduled run validates what it loads (DECISIONLOG 47)."""
    import great_expectations.expectations as gxe  # slow to import: only when a checkpoint runs

    from cx_warehouse.pipeline import landing_deliveries

    if not Path(raw_dir).is_dir():
        raise FileNotFoundError(f"raw export directory not found: {raw_dir}")
    schema, keys = contract.sql_ident(cfg["marts"]["schema"]), ["source_file", "source_delivery"]
    landed = pd.DataFrame(landing_deliveries(Path(raw_dir), only),
                          columns=[*keys, "delivery_fingerprint"], dtype=object)
    staged = con.execute(f"select source_file, source_delivery, delivery_fingerprint as staged_fingerprint "
                         f"from {schema}.dq_load_deliveries").df()
    deliveries = landed.merge(staged, how="left", on=keys)
    if deliveries.empty:
        return
    deliveries.index = pd.Index(deliveries["source_file"] + "/" + deliveries["source_delivery"], name="delivery")
    yield Batch(RAW_SUITE, "landing folder", "deliveries", deliveries, [
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="delivery_fingerprint", column_B="staged_fingerprint",
            description="every delivery is staged (marts.dq_load_deliveries), in the version on disk")])


def rule_counts(con: duckdb.DuckDBPyConnection, schema: str, tables: Iterable[str], cfg: dict) -> list[dict]:
    """The rules of gx/checkpoint.yml (marts.rules) on the tables present, each
    counted by one DuckDB query: failing rows, rows checked, one failing key."""
    names = {"exports": ", ".join(contract.sql_literal(e.name) for e in contract.load_contract()),
             "metrics": cfg["marts"].get("metric_list", "reference.metric_targets"), "schema": contract.sql_ident(schema)}
    out = []
    for table, spec in (cfg["marts"].get("rules") or {}).items():
        if table not in tables:
            continue
        names["rel"] = f"{contract.sql_ident(schema)}.{contract.sql_ident(table)}"
        key = "concat_ws('|', " + ", ".join(f"cast({contract.sql_ident(c)} as varchar)" for c in spec["key"]) + ")"
        plan = [(r, f"select count(*) filter (where {r['when']}), count(*), min({key}) filter (where {r['when']}) "
                    "from {rel}") for r in spec.get("rows") or []]
        for rule, sql in plan + [(q, q["sql"]) for q in spec.get("queries") or []]:
            try:
                failing, checked, example = con.execute(sql.format(**names)).fetchone()
            except (duckdb.Error, KeyError, IndexError) as exc:
                failing, checked, example = 1, 0, f"cannot be checked: {str(exc).strip().splitlines()[0]}"
            out.append({"table_name": table, "description": rule["rule"], "column": rule.get("column"),
                        "failing_rows": int(failing or 0), "checked_rows": int(checked or 0), "example": example})
    return out


def _text_candidates(con: duckdb.DuckDBPyConnection, schema: str,
                     tables: dict[str, list[tuple[str, str]]], cfg: dict,
                     rows: dict[str, str | None] | None = None) -> pd.DataFrame:
    """The distinct text values of every table that DuckDB finds e-mail- or
    phone-like (the patterns without look-arounds); GX applies the full patterns.
    rows: a table's condition selecting the rows to read (None: every row)."""
    cand = " or ".join(f"regexp_matches(v, {contract.sql_literal(re2_superset(cfg['personal_data'][k]))})"
                       for k in ("email_regex", "phone_regex"))
    try:
        con.execute(f"select {cand} from (select '' as v)").fetchall()
    except duckdb.Error:
        cand = "true"  # a pattern RE2 cannot compile: every distinct value goes to GX
    frames = [pd.DataFrame({k: pd.Series(dtype=object) for k in ("table_name", "column_name", "value")})]
    for table, columns in tables.items():
        for c, typ in columns:
            if not _NON_TEXT_TYPE.match(typ.strip()):
                where = (rows or {}).get(table) or "true"
                frames.append(con.execute(
                    f"select distinct $1 as table_name, $2 as column_name, v as value from (select cast("
                    f"{contract.sql_ident(c)} as varchar) as v from {contract.sql_ident(schema)}.{contract.sql_ident(table)} where {where}) "
                    f"where v is not null and ({cand})", [table, c]).df())
    frame = pd.concat(frames, ignore_index=True)
    frame.index = pd.Index(frame["table_name"] + "." + frame["column_name"], name="column")
    return frame


def mart_batches(con: duckdb.DuckDBPyConnection, cfg: dict,
                 only_marts: dict[str, str | None] | None = None) -> Iterator[Batch]:
    """The marts suite. only_marts: the marts a scheduled run changed, each with
    the condition selecting its rows written since the last publish (None: the
    whole mart; publish.changed_since_publish); the rules and the text values
    of the others are not read again (their published copy passed this gate).
    Column names are checked on every mart."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    schema, pcfg = cfg["marts"]["schema"], cfg["personal_data"]
    tables: dict[str, list[tuple[str, str]]] = {}
    for t, c, typ in con.execute("select table_name, column_name, data_type from information_schema.columns "
                                 "where table_schema = $1 order by table_name, ordinal_position", [schema]).fetchall():
        tables.setdefault(t, []).append((c, typ))
    if not tables:
        raise ValueError(f"the warehouse has no table in schema {schema}")

    checked = {t: cols for t, cols in tables.items() if only_marts is None or t in only_marts}
    counts = pd.DataFrame(rule_counts(con, schema, checked, cfg))
    if not counts.empty:
        counts.index = pd.Index(counts["table_name"] + ": " + counts["description"], name="rule")
        counts["rule_id"] = [f"r{i:03d}" for i in range(len(counts))]
        yield Batch(MARTS_SUITE, "marts", "rules", counts, [gxe.ExpectColumnValuesToBeBetween(
            column="failing_rows", min_value=0, max_value=0, row_condition=Column("rule_id") == row["rule_id"],
            description=row["description"], meta={
                "cx_table": row["table_name"], "cx_column": row["column"], "cx_example": row["example"],
                "cx_failing_rows": int(row["failing_rows"]), "cx_checked_rows": int(row["checked_rows"])})
            for _, row in counts.iterrows()])

    # Personal data: the flags of the CIS contract are added to the configured name pattern.
    flags, body = re.match(r"^(\(\?[a-z]+\))?(.*)$", pcfg["column_name_regex"]).groups()
    exact = "|".join(re.escape(n) for n in sorted({c for _, c in personal_data_columns()}))
    name_regex = f"{flags or ''}(?:{body})" + (f"|^(?:{exact})$" if exact else "")
    names = pd.DataFrame([(t, c) for t, cols in tables.items() for c, _ in cols], columns=["table_name", "column_name"])
    names.index = pd.Index(names["table_name"] + "." + names["column_name"], name="column")
    yield Batch(MARTS_SUITE, "marts", "column names", names, [gxe.ExpectColumnValuesToNotMatchRegex(
        column="column_name", regex=name_regex, row_condition=Column("table_name") == t, meta={"cx_table": t},
        description="no personal-data column (full_name, email, phone, birth_date, caller_phone, ...)")
        for t in tables])

    text_tables = [t for t, cols in checked.items() if any(not _NON_TEXT_TYPE.match(typ.strip()) for _, typ in cols)]
    scope = ("" if only_marts is None else
             f"; the {len(checked)} marts the run changed ({sum(v is not None for v in only_marts.values())} of them "
             f"by their rows written since the last publish), {len(tables) - len(checked)} unchanged not read")
    yield Batch(MARTS_SUITE, "marts", "text values", _text_candidates(con, schema, checked, cfg, only_marts), [
        gxe.ExpectColumnValuesToNotMatchRegex(
            column="value", regex=pcfg[k], row_condition=Column("table_name") == t,
            meta={**PERSONAL, "cx_table": t}, description=f"no {what} in a text value")
        for t in text_tables for k, what in (("email_regex", "e-mail address"), ("phone_regex", "phone number"))],
        "values pre-selected by DuckDB with the patterns' look-arounds left out" + scope)


def run_batches(batches: Iterable[Batch], results_dir: Path | str,
                checkpoint_name: str = "cx_data_quality") -> CheckpointOutcome:
    """Validate every batch with one GX checkpoint; write each validation result as JSON.

    A checkpoint passes the same batch parameters to every validation, so each
    frame is handed to GX as a pickle file (one data asset per frame)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig)

    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    _remove_previous_results(results_dir)
    by_suite: dict[str, Batch] = {}
    outcomes: list[ExpectationOutcome] = []
    files: list[Path] = []
    run_id = None
    with tempfile.TemporaryDirectory(prefix="cx-gx-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
            analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False), data_docs_sites={}))
        context.enable_analytics(False)
        datasource = context.data_sources.add_pandas("cx_frames")
        definitions = []
        for i, batch in enumerate(batches):
            key = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{batch.suite}.{batch.table}.{batch.check}")
            path = Path(tmp) / f"{i:04d}.pkl"
            batch.frame.to_pickle(path)
            batch.frame = batch.frame.iloc[:0]
            asset = datasource.add_pickle_asset(key, filepath_or_buffer=path)
            suite = context.suites.add(gx.ExpectationSuite(name=key, expectations=batch.expectations))
            definitions.append(context.validation_definitions.add(gx.ValidationDefinition(
                name=key, data=asset.add_batch_definition_whole_dataframe(key), suite=suite)))
            by_suite[key] = batch
        if definitions:
            result = context.checkpoints.add(gx.Checkpoint(
                name=checkpoint_name, validation_definitions=definitions, actions=[],
                result_format={"result_format": "SUMMARY"})).run()
            run_id = result.run_id
            for validation in result.run_results.values():
                batch = by_suite[validation.suite_name]
                doc = validation.to_json_dict()
                for r in doc["results"]:
                    _redact(r)
                    outcomes.append(_outcome(batch, r))
                doc["meta"].update({"cx_table": batch.table, "cx_check": batch.check, "cx_suite": batch.suite,
                                    **({"cx_note": batch.note} if batch.note else {})})
                path = results_dir / f"{validation.suite_name}.json"
                path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
                files.append(path)
    outcome = CheckpointOutcome(all(o.success for o in outcomes), outcomes, files, checkpoint_name)
    (results_dir / OUTCOME_FILE).write_text(json.dumps({
        "checkpoint": checkpoint_name, "success": outcome.success, "run_id": str(run_id),
        "result_files": [p.name for p in files], "results": [asdict(o) for o in outcomes],
    }, indent=2, default=str), encoding="utf-8")
    return outcome


def _remove_previous_results(results_dir: Path) -> None:
    """Delete the files the previous run listed (and only those), so no stale result stays."""
    try:
        names = json.loads((results_dir / OUTCOME_FILE).read_text(encoding="utf-8")).get("result_files", [])
    except (OSError, ValueError, AttributeError):
        return
    for path in [results_dir / Path(name).name for name in names if str(name).endswith(".json")]:
        path.unlink(missing_ok=True)


def preload_great_expectations() -> threading.Thread:
    """Starts importing Great Expectations in a background thread and returns
    it: a run calls this before its dbt build, which runs in another process,
    so the gate after the build does not wait for the import (about 4 s of
    one core; DECISIONLOG 140). The caller joins the thread before the gate.
    A failed import is left to the gate's own import, which reports it."""
    def load() -> None:
        try:
            import great_expectations.expectations  # noqa: F401
            from great_expectations.data_context.types import base  # noqa: F401
        except Exception:  # noqa: BLE001 - the gate imports again and reports
            pass

    thread = threading.Thread(target=load, name="gx-preload", daemon=True)
    thread.start()
    return thread


def run_checkpoint(duckdb_path: Path | str | None, raw_dir: Path | str | None,
                   results_dir: Path | str, *, suites: Iterable[str] = (RAW_SUITE, MARTS_SUITE),
                   config_path: Path | str | None = None,
                   only_deliveries: dict[str, set[str]] | None = None,
                   only_marts: dict[str, str | None] | None = None) -> CheckpointOutcome:
    """Run the checkpoint on the warehouse dbt built in `duckdb_path` and the landing
    folder `raw_dir` it read; `suites`: cis_raw_exports and/or cx_published_marts (or raw, marts, all).
    A scheduled run passes what it changed: `only_deliveries` (the raw suite) and
    `only_marts` (the marts suite, mart_batches); None checks everything."""
    wanted = {w for s in ([suites] if isinstance(suites, str) else suites) for w in SUITE_CHOICES.get(s, (s,))}
    unknown = wanted - {RAW_SUITE, MARTS_SUITE}
    if unknown:
        raise ValueError(f"unknown suite(s): {', '.join(sorted(unknown))}")
    cfg = load_config(config_path)
    if RAW_SUITE in wanted and raw_dir is None:
        raise ValueError("the raw suite needs raw_dir")
    if duckdb_path is None or not Path(duckdb_path).is_file():
        raise FileNotFoundError(f"DuckDB warehouse not found: {duckdb_path}")
    scale = cfg.get("scale") or {}  # read only, memory bounded: big scans spill to a temporary directory
    con = duckdb.connect(str(duckdb_path), read_only=True, config={
        "memory_limit": str(scale.get("duckdb_memory_limit", "1GB")),
        "temp_directory": str(Path(tempfile.gettempdir()) / f"cx-gx-duckdb-{os.getpid()}"),
        **({"threads": int(scale["duckdb_threads"])} if scale.get("duckdb_threads") else {})})
    try:
        parts: list[Iterable[Batch]] = []
        if RAW_SUITE in wanted:
            parts.append(raw_batches(con, Path(raw_dir), cfg, only_deliveries))
        if MARTS_SUITE in wanted:
            parts.append(mart_batches(con, cfg, only_marts))
        return run_batches(itertools.chain(*parts), results_dir, cfg.get("checkpoint_name", "cx_data_quality"))
    finally:
        con.close()


def _redact(r: dict) -> None:
    """Hide the values of personal-data expectations (the results are logged and kept)."""
    cfg = r.get("expectation_config") or {}
    if not (cfg.get("meta") or {}).get("personal_data"):
        return
    res = r.get("result") or {}
    column = (cfg.get("kwargs") or {}).get("column")
    for key in ("partial_unexpected_list", "unexpected_list"):
        if key in res:
            res[key] = [REDACTED] * len(res[key])
    if "partial_unexpected_counts" in res:
        res["partial_unexpected_counts"] = [{**c, "value": REDACTED} for c in res["partial_unexpected_counts"]]
    for key in ("partial_unexpected_index_list", "unexpected_index_list"):
        if key in res:
            res[key] = [{k: v for k, v in i.items() if k != column} if isinstance(i, dict) else i
                        for i in res[key]]


def _exception_message(info: dict) -> str | None:
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for v in info.values():
        if isinstance(v, dict) and v.get("raised_exception", True):
            msg = (v.get("exception_message") or "").strip()
            return msg.splitlines()[-1] if msg else "exception"
    return None


def _details(r: dict, batch: Batch) -> str:
    res, index_name = r.get("result") or {}, batch.frame.index.name
    error = _exception_message(r.get("exception_info") or {})
    keys = [str(i[index_name]) for i in res.get("partial_unexpected_index_list") or []
            if isinstance(i, dict) and index_name in i]
    values = [v for v in res.get("partial_unexpected_list") or [] if v != REDACTED and not isinstance(v, dict)]
    parts = [f"error: {error}" if error else "", f"at {index_name} " + ", ".join(dict.fromkeys(keys)) if keys else "",
             "values " + ", ".join(dict.fromkeys(map(repr, values))) if values and not keys else ""]
    if not any(parts) and "observed_value" in res:
        parts.append(f"observed {res['observed_value']}")
    return "; ".join(p for p in parts if p)


def _outcome(batch: Batch, r: dict) -> ExpectationOutcome:
    cfg, res = r["expectation_config"], r.get("result") or {}
    meta, kwargs = cfg.get("meta") or {}, cfg.get("kwargs") or {}
    raised = bool(_exception_message(r.get("exception_info") or {}))
    column = kwargs.get("column") or (f"{kwargs['column_A']}, {kwargs['column_B']}" if "column_A" in kwargs else None)
    unexpected, elements = res.get("unexpected_count"), res.get("element_count")
    details = "" if r.get("success") else _details(r, batch)
    if "cx_failing_rows" in meta:  # a rule counted by DuckDB: its rows, not the frame's
        column = meta.get("cx_column", column)
        unexpected, elements = meta["cx_failing_rows"], meta.get("cx_checked_rows")
        if not r.get("success") and not raised:
            example = f"e.g. {meta['cx_example']}" if meta.get("cx_example") else details
            details = "; ".join(p for p in (f"{unexpected} of {elements} rows", example) if p)
    if details and batch.note:
        details += f"; {batch.note}"
    return ExpectationOutcome(
        suite=batch.suite, table=meta.get("cx_table", batch.table), check=batch.check,
        expectation_type=cfg["type"], column=column, unexpected_count=unexpected,
        success=bool(r.get("success")), element_count=elements, description=cfg.get("description"),
        details=details, raised_exception=raised)


def format_summary(outcome: CheckpointOutcome, *, failures_only: bool = False, width: int = 80) -> str:
    """A readable table (status, suite, table, expectation, rows failing), failures first."""
    rows = sorted(outcome.results, key=lambda o: (o.success, o.suite, o.table, o.check, o.raised_exception))
    if failures_only:
        rows = [o for o in rows if not o.success]

    def cut(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 1] + "…"

    table = [("STATUS", "SUITE", "TABLE", "EXPECTATION", "ROWS FAILING", "DETAILS")]
    for o in rows:
        expectation = o.expectation_type + (f"({o.column})" if o.column else "")
        expectation += f": {o.description}" if o.description else ""
        failing = "error" if o.raised_exception else ("-" if o.unexpected_count is None else str(o.unexpected_count))
        table.append((o.status, o.suite, f"{o.table} ({o.check})", cut(expectation, 110), failing,
                      cut(o.details, width)))
    widths = [max(len(r[i]) for r in table) for i in range(6)]
    lines = []
    for n, r in enumerate(table):
        lines.append("  ".join(r[i].ljust(widths[i]) if i < 5 else r[i] for i in range(6)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths[:5]) + "  " + "-" * min(widths[5], width))
    head = (f"Great Expectations checkpoint {outcome.checkpoint_name}: "
            f"{'PASSED' if outcome.success else 'FAILED'} - {len(outcome.failures)} of {len(outcome.results)} "
            "expectations failed")
    for s in sorted({o.suite for o in outcome.results}):
        ok = [o.success for o in outcome.results if o.suite == s]
        head += f"\n  {s}: {sum(ok)} passed, {len(ok) - sum(ok)} failed"
    return head + "\n\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cx_warehouse.gx_checks",
        description="Run the Great Expectations gate on a warehouse dbt built and the landing folder it read.")
    parser.add_argument("--duckdb", default=os.environ.get("DUCKDB_PATH", "warehouse/cx_warehouse.duckdb"),
                        help="DuckDB warehouse, read only (default $DUCKDB_PATH or warehouse/cx_warehouse.duckdb)")
    parser.add_argument("--raw-dir", default="data/sample_exports", help="the landing folder it was built from")
    parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where the JSON results go")
    parser.add_argument("--suite", choices=sorted(SUITE_CHOICES), default="all", help="which suite(s) to run")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="checkpoint settings (gx/checkpoint.yml)")
    parser.add_argument("--failures-only", action="store_true", help="list only the failing expectations")
    args = parser.parse_args(argv)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    try:
        outcome = run_checkpoint(args.duckdb, args.raw_dir, args.results_dir, suites=args.suite, config_path=args.config)
    except (OSError, ValueError, duckdb.Error) as exc:
        print(f"gx_checks: {exc}", file=sys.stderr)
        return 2
    print(format_summary(outcome, failures_only=args.failures_only))
    print(f"\nValidation results: {Path(args.results_dir)}")
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
