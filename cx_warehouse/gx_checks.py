"""Great Expectations data-quality checkpoint for the CX warehouse.

One checkpoint (``cx_data_quality``) runs two suites:

``cis_raw_exports``
    On each of the 14 raw CIS exports of a directory, read as text exactly as
    dbt reads them, exact duplicate copies dropped as staging drops them: the
    contract columns in order, required values present, values that parse as
    their contract type, domains, numeric bounds and unique primary keys. The rules come from the contract metadata in
    models/staging/cis/_cis__sources.yml (through cx_warehouse.contract).
    Exports normally hold a few defective rows that staging rejects row by
    row, so row-level expectations use a ``mostly`` threshold (gx/checkpoint.yml):
    the suite fails on a broken extract, not on a handful of rejected rows.

``cx_published_marts``
    On the tables of schema ``marts`` of the DuckDB warehouse: the published
    contract read from the model ymls (columns in order, not_null, unique,
    accepted_values, unique_combination_of_columns), the metric rules of
    cx-metrics.md (bounds, 'all' segment at every grain, no missing month,
    period alignment, raw = kept + duplicate + rejected) and no personal data
    in any table of the schema (column names, and e-mail addresses or phone
    numbers in text values); the tables are listed from information_schema so
    that new marts are covered.

GX's SQL datasource does not work on DuckDB, so every table is read with the
duckdb Python API (read-only) into a pandas DataFrame and validated through
GX's pandas datasource in an ephemeral context. A checkpoint passes the same
batch parameters to every validation, so each DataFrame is handed to GX as a
pickle file in a temporary directory (one data asset per frame). Analytics
are disabled and no Data Docs are built: nothing leaves the machine.

Usage::

    python -m cx_warehouse.gx_checks --duckdb warehouse/cx_warehouse.duckdb \\
        --raw-dir data/sample_exports --results-dir gx/uncommitted/validations

prints a summary table and exits 1 when any expectation fails (0 otherwise).
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
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

# Must be set before great_expectations is imported (it is imported lazily).
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

# Metric names with a special rule (cx-metrics.md): every other metric is a share in [0, 1].
# Metrics whose value is not a share of its denominator (seconds per call,
# contacts per active account): no [0, 1] bound, numerator may exceed denominator.
NON_SHARE_METRICS = ("average_handle_time", "inbound_contact_rate")
PROVISIONAL_METRIC = "first_contact_resolution"
CONTACT_REASON_METRICS = ("first_contact_resolution", "average_handle_time", "inbound_contact_rate")

REDACTED = "<redacted>"
OUTCOME_FILE = "checkpoint_outcome.json"
# Column types whose values cannot hold an e-mail address or a phone number as text.
_NON_TEXT_TYPE = re.compile(
    r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL.*|DATE|TIME.*|TIMESTAMP.*|INTERVAL|UUID)$",
    re.IGNORECASE,
)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Outcome
# ---------------------------------------------------------------------------
@dataclass
class ExpectationOutcome:
    """One expectation's result on one table (or one derived view of it)."""

    suite: str
    table: str
    check: str  # which view of the table: rows, numeric values, month coverage, ...
    expectation_type: str
    column: str | None
    unexpected_count: int | None  # rows (or values) failing; None for table-level checks
    success: bool
    element_count: int | None = None
    description: str | None = None
    details: str = ""
    raised_exception: bool = False
    scope: str = "whole"  # whole table, in-database aggregates, or a sample

    @property
    def status(self) -> str:
        if self.raised_exception:
            return "ERROR"
        return "PASS" if self.success else "FAIL"


@dataclass
class CheckpointOutcome:
    success: bool
    results: list[ExpectationOutcome]
    result_files: list[Path] = field(default_factory=list)
    checkpoint_name: str = "cx_data_quality"

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]


# ---------------------------------------------------------------------------
# Configuration and contracts
# ---------------------------------------------------------------------------
def load_config(path: Path | str | None = None) -> dict[str, Any]:
    cfg = yaml.safe_load(Path(path or DEFAULT_CONFIG).read_text(encoding="utf-8"))
    for key in ("raw", "marts", "personal_data"):
        if key not in cfg:
            raise ValueError(f"{path or DEFAULT_CONFIG}: missing section '{key}'")
    return cfg


def personal_data_columns(sources_yml: Path = contract.SOURCES_YML) -> set[tuple[str, str]]:
    """(export, column) pairs the CIS contract flags as personal data (meta
    personal_data, the flag staging masks by)."""
    return {(e.name, c.name) for e in contract.load_contract(sources_yml) for c in e.columns if c.personal}


@dataclass
class MartContract:
    """What a model yml promises about one published table."""

    name: str
    columns: list[str]
    not_null: list[str]
    unique: list[str]
    accepted_values: dict[str, list[Any]]
    unique_combinations: list[list[str]]
    source_yml: str
    data_types: dict[str, str] = field(default_factory=dict)

    @property
    def key_columns(self) -> list[str]:
        if self.unique_combinations:
            return self.unique_combinations[0]
        return self.unique[:1]


def _test_name_and_args(test: Any) -> tuple[str, dict]:
    if isinstance(test, str):
        return test, {}
    name, body = next(iter(test.items()))
    body = body or {}
    args = dict(body.get("arguments") or {})
    # Older dbt style: arguments next to config.
    args.update({k: v for k, v in body.items() if k not in ("arguments", "config")})
    return name.split(".")[-1], args


def load_mart_contracts(project_dir: Path, patterns: Sequence[str]) -> dict[str, MartContract]:
    """Models declared in the mart ymls (marts and data_quality: schema marts)."""
    contracts: dict[str, MartContract] = {}
    files = sorted({p for pattern in patterns for p in project_dir.glob(pattern)})
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in doc.get("models") or []:
            config = model.get("config") or {}
            if config.get("enabled") is False or config.get("materialized") == "ephemeral":
                continue
            cols = model.get("columns") or []
            c = MartContract(
                name=model["name"], columns=[col["name"] for col in cols], not_null=[], unique=[],
                accepted_values={}, unique_combinations=[],
                source_yml=str(path.relative_to(project_dir)),
                data_types={col["name"]: col["data_type"] for col in cols if col.get("data_type")},
            )
            for test in model.get("data_tests") or model.get("tests") or []:
                name, args = _test_name_and_args(test)
                if name == "unique_combination_of_columns" and args.get("combination"):
                    c.unique_combinations.append(list(args["combination"]))
            for col in cols:
                constraints = [k.get("type") for k in col.get("constraints") or []]
                tests = [_test_name_and_args(t) for t in col.get("data_tests") or col.get("tests") or []]
                names = {n for n, _ in tests}
                if "not_null" in constraints or "not_null" in names:
                    c.not_null.append(col["name"])
                if "unique" in constraints or "unique" in names:
                    c.unique.append(col["name"])
                for n, args in tests:
                    if n == "accepted_values" and args.get("values") is not None:
                        c.accepted_values[col["name"]] = list(args["values"])
            contracts[c.name] = c
    return contracts


# ---------------------------------------------------------------------------
# Batches: a DataFrame plus the expectations it must meet
# ---------------------------------------------------------------------------
@dataclass
class Batch:
    suite: str  # logical suite: cis_raw_exports or cx_published_marts
    table: str
    check: str
    frame: pd.DataFrame
    expectations: list = field(default_factory=list)
    note: str = ""  # e.g. why a file could not be read
    scope: str = "whole"  # whole (every row read), aggregates (counted in DuckDB) or sample

    @property
    def key(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.suite}.{self.table}.{self.check}")


def _gx():
    """Import great_expectations lazily (slow) with analytics off."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    return gx


def _gxe():
    return _gx().expectations


def _col(name: str):
    from great_expectations.expectations.row_conditions import Column

    return Column(name)


PERSONAL = {"personal_data": True}


def raw_mostly(rows: int, raw_cfg: dict) -> float:
    """Share of rows that must meet a row-level expectation in a file of `rows` rows."""
    mostly = float(raw_cfg["mostly"])
    if rows > 0:
        mostly = min(mostly, 1 - int(raw_cfg.get("tolerated_defective_rows", 0)) / rows)
    return round(max(float(raw_cfg.get("mostly_floor", 0.0)), mostly), 6)


def _raw_sql(files: list[Path], columns: list[str]) -> str:
    """Every delivery of one export as text, in the warehouse's reading (the
    same options as macros/loading/cis_deliveries.sql); empty text is NULL.

    Files are read in groups, one reader per group: the Parquet deliveries in
    one, the CSV deliveries in one per distinct header (each file's own header
    gives its column names). A union of one reader per file (1,462 of them for
    two years of a daily export with same-day deliveries) ran out of a 1 GB
    memory limit at 1 M accounts; one reader over the list does not."""
    col_list = ", ".join(f'nullif(cast("{c}" as varchar), \'\') as "{c}"' for c in columns)
    groups: dict[tuple, list[Path]] = {}
    for path in files:
        if path.suffix == ".parquet":
            groups.setdefault(("parquet",), []).append(path)
        else:
            groups.setdefault(("csv",) + tuple(h.strip() for h in contract.read_header(path)), []).append(path)
    selects = []
    for group, paths in groups.items():
        names = ", ".join(contract.sql_literal(p) for p in paths)
        if group[0] == "parquet":
            reader = f"read_parquet([{names}], filename=true, union_by_name=true)"
        else:
            # malformed records are skipped here (staging rejects them with their line)
            header = {h: "VARCHAR" for h in group[1:]}
            reader = (f"read_csv([{names}], header=true, auto_detect=false, columns={header!r}, "
                      "delim=',', quote='\"', escape='\"', strict_mode=true, ignore_errors=true, filename=true)")
        selects.append(f"select {col_list}, parse_filename(filename) as _delivery from {reader}")
    return " union all ".join(selects)


def _to_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype(object).where(frame.notna(), None).replace({"": None})
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="csv_line")
    return frame


def _read_raw(con: duckdb.DuckDBPyConnection, files: list[Path], columns: list[str]) -> pd.DataFrame:
    """Every delivery of one export as text, read whole into pandas."""
    return _to_frame(con.execute(_raw_sql(files, columns)).df())


def _distinct_in_force(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    frame = frame.drop_duplicates()
    if frame.empty:
        return frame.drop(columns=["_delivery"], errors="ignore")
    # Delivery names sort in delivery order; their ranks make the max cheap (no
    # string comparison per row).
    rank = pd.Series(pd.Categorical(frame["_delivery"], ordered=True).codes, index=frame.index)
    latest = rank.groupby([frame[k] for k in key], dropna=False, sort=False).transform("max")
    return frame[rank == latest].drop(columns=["_delivery"])


def scale_settings(cfg: dict) -> dict[str, Any]:
    """The `scale` section of gx/checkpoint.yml, with its defaults."""
    s = dict(cfg.get("scale") or {})
    return {
        "sample_rows": int(s.get("sample_rows", 50_000)),
        "sample_seed": int(s.get("sample_seed", 42)),
        "memory_limit": str(s.get("duckdb_memory_limit", "1GB")),
        "threads": s.get("duckdb_threads"),
    }


def _connect(cfg: dict, path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (read-only on a warehouse file) whose memory is bounded:
    the big aggregates spill to a temporary directory rather than grow."""
    scale = scale_settings(cfg)
    config: dict[str, Any] = {"memory_limit": scale["memory_limit"],
                              "temp_directory": str(Path(tempfile.gettempdir()) / f"cx-gx-duckdb-{os.getpid()}")}
    if scale["threads"]:
        config["threads"] = int(scale["threads"])
    if path is None:
        return duckdb.connect(config=config)
    return duckdb.connect(str(path), read_only=True, config=config)


@dataclass
class RuleCount:
    """One rule counted in the database over every row of a large export or table."""

    description: str
    column: str | None
    failing: int  # rows (or values) breaking the rule
    checked: int  # rows (or values) the rule applies to
    mostly: float = 1.0
    meta: dict = field(default_factory=dict)


def _aggregate_batch(suite: str, table: str, counts: list[RuleCount], total_rows: int) -> Batch:
    """The counts as a small frame (one row per rule) and one expectation per rule:
    the share of rows meeting it is at least its `mostly` - the same test GX applies
    row by row to a whole frame."""
    gxe = _gxe()
    ids = [f"r{i:03d}" for i in range(len(counts))]
    share = [None if c.checked <= 0 else 1 - c.failing / c.checked for c in counts]
    frame = pd.DataFrame({
        "rule": pd.Series(ids, dtype=object),
        "column": pd.Series([c.column for c in counts], dtype=object),
        "description": pd.Series([c.description for c in counts], dtype=object),
        "checked_rows": pd.Series([c.checked for c in counts], dtype="int64"),
        "failing_rows": pd.Series([c.failing for c in counts], dtype="int64"),
        "good_share": pd.Series(share, dtype="float64"),
    })
    frame.index = pd.Index(ids, name="rule")
    exps = [gxe.ExpectColumnValuesToBeBetween(
        column="good_share", min_value=c.mostly, max_value=1, row_condition=_col("rule") == rid,
        description=f"{c.description} (share of rows meeting it, counted in DuckDB over all {total_rows} rows)",
        meta={**c.meta, "cx_column": c.column, "cx_failing_rows": int(c.failing), "cx_checked_rows": int(c.checked)})
        for rid, c in zip(ids, counts)]
    return Batch(suite, table, "in-database aggregates", frame, exps, scope="aggregates")


def _raw_counts(con: duckdb.DuckDBPyConnection, export: contract.Export, relation: str, raw_cfg: dict,
                personal: set[tuple[str, str]]) -> tuple[int, list[RuleCount]]:
    """One scan of every delivered row of an export (no de-duplication: exact
    duplicate copies and superseded rows count as delivered) counting the rows
    that break each row-level rule."""
    patterns = raw_cfg["type_patterns"]
    exprs = ["count(*)"]
    plan: list[tuple[str, contract.Column, int]] = []  # (rule, column, index of its failing count)

    def add(*sql: str) -> int:
        exprs.extend(sql)
        return len(exprs) - len(sql)

    nonnull_at: dict[str, int] = {}
    for c in export.columns:
        q = _ident(c.name)
        nonnull_at[c.name] = add(f"count({q})")  # non-null values
        if c.required:
            plan.append(("required", c, add(f"count(*) filter (where {q} is null)")))
        if c.cis_type != "text":
            rx = contract.sql_literal(patterns[c.cis_type])
            plan.append(("type", c, add(f"count(*) filter (where {q} is not null and not regexp_matches({q}, {rx}))")))
        if c.domain:
            values = ", ".join(contract.sql_literal(v) for v in c.domain)
            plan.append(("domain", c, add(f"count(*) filter (where {q} is not null and {q} not in ({values}))")))
        if c.min is not None or c.max is not None:
            rx = contract.sql_literal(patterns[c.cis_type])
            num = f"try_cast({q} as double)"
            out = " or ".join(([f"{num} < {float(c.min)!r}"] if c.min is not None else [])
                              + ([f"{num} > {float(c.max)!r}"] if c.max is not None else []))
            parses = f"{q} is not null and regexp_matches({q}, {rx})"
            plan.append(("bounds", c, add(f"count(*) filter (where {parses})",
                                          f"count(*) filter (where {parses} and ({out}))")))
    row = con.execute(f"select {', '.join(exprs)} from ({relation})").fetchone()
    rows = int(row[0])
    mostly = raw_mostly(rows, raw_cfg)
    nonnull = {name: int(row[at]) for name, at in nonnull_at.items()}
    counts = [RuleCount("the export has data rows", None, int(rows < int(raw_cfg.get("min_rows", 1))), 1)]
    for rule, c, at in plan:
        meta = PERSONAL if (export.name, c.name) in personal else {}
        if rule == "required":
            counts.append(RuleCount("required value present", c.name, int(row[at]), rows, mostly, meta))
        elif rule == "type":
            counts.append(RuleCount(f"parses as {c.cis_type}", c.name, int(row[at]), nonnull[c.name], mostly, meta))
        elif rule == "domain":
            counts.append(RuleCount("value in its domain", c.name, int(row[at]), nonnull[c.name], mostly, meta))
        else:
            counts.append(RuleCount(f"within bounds [{_fmt_bound(c.min)}, {_fmt_bound(c.max)}]", c.name,
                                    int(row[at + 1]), int(row[at]), mostly, meta))
    return rows, counts


def _raw_sample(con: duckdb.DuckDBPyConnection, export: contract.Export, relation: str, rows: int,
                scale: dict) -> pd.DataFrame:
    """A repeatable sample of at most `sample_rows` rows: every delivered row of
    the keys whose hash falls in a slice (so that exact duplicates, superseded
    rows and duplicate keys of a sampled key are all there), then the distinct
    in-force rows of those keys, indexed by key."""
    n = scale["sample_rows"]
    pk = ", ".join(_ident(k) for k in export.primary_key)
    h = f"hash({int(scale['sample_seed'])}, {pk})"
    slice_ = max(1, int(1_000_000 * 0.9 * n / max(rows, 1)))
    # The distinct in-force rows (as _distinct_in_force), computed by DuckDB on the sampled rows.
    sql = (f"with s as (select * from ({relation}) where {h} % 1000000 < {slice_} "
           f"order by {h}, _delivery limit {n}), d as (select distinct * from s) "
           f"select * exclude (_delivery, _latest) from (select *, max(_delivery) over (partition by {pk}) "
           f"as _latest from d) where _delivery = _latest order by {h}, columns(*)")
    return _keyed(_to_frame(con.execute(sql).df()), export.primary_key)


def raw_batches(raw_dir: Path, cfg: dict, only: dict[str, set[str]] | None = None) -> list[Batch]:
    """Suite cis_raw_exports, built from the CIS contract. With `only`
    (export -> delivery file names), only those deliveries are read: a
    scheduled run validates what it loads, not the history it already
    validated when it arrived."""
    return list(iter_raw_batches(raw_dir, cfg, only))


def iter_raw_batches(raw_dir: Path, cfg: dict, only: dict[str, set[str]] | None = None) -> Iterator[Batch]:
    """The batches of suite cis_raw_exports, one at a time (see raw_batches).

    An export of at most `scale.sample_rows` delivered rows is read whole into
    pandas (its distinct in-force rows). A larger one is validated as in-database
    aggregates (one DuckDB scan counting the rows that break each rule) plus a
    bounded repeatable sample, on which the row-level expectations (and the
    primary key) run as on a whole export."""
    gxe = _gxe()
    raw_cfg = cfg["raw"]
    scale = scale_settings(cfg)
    patterns = raw_cfg["type_patterns"]
    exports = contract.load_contract()
    personal = personal_data_columns()
    raw_dir = Path(raw_dir)
    present = sorted(e.name for e in exports if contract.export_forms(raw_dir, e.name)) if raw_dir.is_dir() else []
    yield Batch(
        RAW_SUITE, "export set", "files", pd.DataFrame({"export": pd.Series(present, dtype=object)}),
        [gxe.ExpectColumnDistinctValuesToContainSet(
            column="export", value_set=[e.name for e in exports],
            description=f"every contract export is present in {raw_dir}")],
    )
    for export in exports:
        files = contract.export_files(raw_dir, export.name)
        if only is not None:
            files = [p for p in files if p.name in only.get(export.name, ())]
        if not files:
            continue  # reported by the files check, or nothing new to validate
        # A connection of its own per export, so each export's scans start from
        # an empty buffer pool (the 1 M out-of-memory came from one reader per
        # file, fixed in _raw_sql; this only bounds what one export can leave).
        con = _connect(cfg)
        try:
            note = ""
            scope = "whole"
            relation = _raw_sql(files, export.column_names)
            total = None
            try:
                delivered = int(con.execute(f"select count(*) from ({relation})").fetchone()[0])
                if delivered <= scale["sample_rows"]:
                    # Exact duplicate copies are dropped first, as staging does: they are
                    # harmless (counted in dq_row_reconciliation), and every rule below is
                    # then judged on the same distinct rows staging judges.
                    frame = _distinct_in_force(_read_raw(con, files, export.column_names),
                                               list(export.primary_key))
                else:
                    total, counts = _raw_counts(con, export, relation, raw_cfg, personal)
                    yield _aggregate_batch(RAW_SUITE, export.name, counts, total)
                    frame = _raw_sample(con, export, relation, total, scale)
                    scope = "sample"
                    note = (f"sample: {len(frame)} distinct in-force rows of the keys in a hash slice "
                            f"of {total} delivered rows")
            except duckdb.Error as exc:
                note = f"cannot read {export.name}: {str(exc).splitlines()[0]}"
                frame = pd.DataFrame(index=pd.RangeIndex(0, name="csv_line"))
            # A sample is judged with the share the aggregates use (that of the whole export).
            mostly = raw_mostly(len(frame) if total is None else total, raw_cfg)
            suffix = ", sample" if scope == "sample" else ""
            exps = [
                gxe.ExpectTableColumnsToMatchOrderedList(
                    column_list=export.column_names, description="contract columns, in order"),
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=int(raw_cfg.get("min_rows", 1)), description="the export has data rows"),
            ]
            for c in export.columns:
                meta = PERSONAL if (export.name, c.name) in personal else {}
                if c.required:
                    exps.append(gxe.ExpectColumnValuesToNotBeNull(
                        column=c.name, mostly=mostly, meta=meta, description="required value present"))
                if c.cis_type != "text":
                    exps.append(gxe.ExpectColumnValuesToMatchRegex(
                        column=c.name, regex=patterns[c.cis_type], mostly=mostly, meta=meta,
                        description=f"parses as {c.cis_type}"))
                if c.domain:
                    exps.append(gxe.ExpectColumnValuesToBeInSet(
                        column=c.name, value_set=list(c.domain), mostly=mostly, meta=meta,
                        description="value in its domain"))
            pk = list(export.primary_key)
            if len(pk) == 1:
                exps.append(gxe.ExpectColumnValuesToBeUnique(
                    column=pk[0], mostly=mostly, description="primary key unique"))
            else:
                exps.append(gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=pk, mostly=mostly, description="primary key unique"))
            yield Batch(RAW_SUITE, export.name, "distinct rows" + suffix, frame, exps, note, scope=scope)

            # Bounds apply to the values that parse (those that do not are reported above).
            bounded = [c for c in export.columns
                       if (c.min is not None or c.max is not None) and c.name in frame.columns]
            if bounded:
                numeric = pd.DataFrame(index=frame.index)
                bound_exps = []
                for c in bounded:
                    text = frame[c.name]
                    with warnings.catch_warnings():  # "pattern has match groups"
                        warnings.simplefilter("ignore", UserWarning)
                        parses = text.notna() & text.astype(str).str.contains(patterns[c.cis_type])
                    numeric[c.name] = pd.to_numeric(text.where(parses), errors="coerce")
                    meta = PERSONAL if (export.name, c.name) in personal else {}
                    bound_exps.append(gxe.ExpectColumnValuesToBeBetween(
                        column=c.name, min_value=c.min, max_value=c.max, mostly=mostly, meta=meta,
                        description=f"within bounds [{_fmt_bound(c.min)}, {_fmt_bound(c.max)}]"))
                yield Batch(RAW_SUITE, export.name, "numeric values" + suffix, numeric, bound_exps,
                            scope=scope)
            del frame
        finally:
            con.close()


def _fmt_bound(v: Any) -> str:
    return "" if v is None else str(v)


def _keyed(frame: pd.DataFrame, key_columns: Sequence[str]) -> pd.DataFrame:
    """Index the frame by its key (shown for failing rows in the results)."""
    if not key_columns or not set(key_columns) <= set(frame.columns) or frame.empty:
        return frame
    key = frame[list(key_columns)[0]].astype(str)
    for k in list(key_columns)[1:]:
        key = key + "|" + frame[k].astype(str)
    out = frame.copy()
    out.index = pd.Index(key.to_numpy(), name="key")
    return out


def _contract_expectations(c: MartContract) -> list:
    gxe = _gxe()
    exps = []
    if c.columns:
        exps.append(gxe.ExpectTableColumnsToMatchOrderedList(
            column_list=c.columns, description=f"published columns, in order ({c.source_yml})"))
    for col in c.not_null:
        exps.append(gxe.ExpectColumnValuesToNotBeNull(column=col, description="not null"))
    for col in c.unique:
        exps.append(gxe.ExpectColumnValuesToBeUnique(column=col, description="unique"))
    for col, values in c.accepted_values.items():
        exps.append(gxe.ExpectColumnValuesToBeInSet(
            column=col, value_set=values, description="accepted values"))
    for combo in c.unique_combinations:
        exps.append(gxe.ExpectCompoundColumnsToBeUnique(
            column_list=combo, description="compound key unique"))
    return exps


def _mart_rules(table: str, export_names: list[str]) -> list:
    """The metric rules of cx-metrics.md that the ymls do not carry, per table."""
    gxe = _gxe()
    col = _col
    if table == "fct_cx_metrics":
        share = col("metric_name").is_not_in(list(NON_SHARE_METRICS))
        non_share = col("metric_name").is_in(list(NON_SHARE_METRICS))
        names = " and ".join(NON_SHARE_METRICS)
        return [
            gxe.ExpectColumnValuesToBeBetween(column="numerator", min_value=0, description="numerator >= 0"),
            gxe.ExpectColumnValuesToBeBetween(column="denominator", min_value=1, description="denominator >= 1"),
            gxe.ExpectColumnValuesToBeBetween(
                column="metric_value", min_value=0, max_value=1, row_condition=share,
                description=f"metric_value in [0, 1] (every metric but {names})"),
            gxe.ExpectColumnValuesToBeBetween(
                column="metric_value", min_value=0, row_condition=non_share,
                description=f"metric_value >= 0 ({names})"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="denominator", column_B="numerator", or_equal=True, row_condition=share,
                description=f"numerator <= denominator (every metric but {names})"),
            gxe.ExpectColumnValuesToBeBetween(
                column="prior_year_value", min_value=0, max_value=1, row_condition=share,
                description=f"prior_year_value in [0, 1] (every metric but {names})"),
            gxe.ExpectColumnValuesToBeNull(
                column="prior_year_value", row_condition=col("period_grain") != "month",
                description="prior_year_value only on month rows"),
            gxe.ExpectColumnValuesToBeNull(
                column="yoy_change", row_condition=col("period_grain") != "month",
                description="yoy_change only on month rows"),
            gxe.ExpectColumnValuesToBeInSet(
                column="is_provisional", value_set=[False],
                row_condition=col("metric_name") != PROVISIONAL_METRIC,
                description=f"only {PROVISIONAL_METRIC} rows can be provisional"),
            gxe.ExpectColumnValuesToBeInSet(
                column="metric_name", value_set=list(CONTACT_REASON_METRICS),
                row_condition=col("segment_type") == "contact_reason",
                description="segment contact_reason only for FCR, AHT and the inbound contact rate"),
            gxe.ExpectColumnValuesToBeInSet(
                column="segment_value", value_set=["all"], row_condition=col("segment_type") == "all",
                description="segment_type all has segment_value all"),
        ]
    if table == "fct_csat_rolling_13w":
        return [
            gxe.ExpectColumnValuesToBeBetween(
                column="numerator_13w", min_value=0, description="numerator_13w >= 0"),
            gxe.ExpectColumnValuesToBeBetween(
                column="denominator_13w", min_value=1, description="denominator_13w >= 1"),
            gxe.ExpectColumnValuesToBeBetween(
                column="csat_13w", min_value=0, max_value=1, description="csat_13w in [0, 1]"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="denominator_13w", column_B="numerator_13w", or_equal=True,
                description="numerator_13w <= denominator_13w"),
            gxe.ExpectColumnValuesToBeInSet(
                column="segment_value", value_set=["all"], row_condition=col("segment_type") == "all",
                description="segment_type all has segment_value all"),
        ]
    if table == "fct_bill_accuracy_by_billing_run":
        return [
            gxe.ExpectColumnValuesToBeBetween(column="bills", min_value=0, description="bills >= 0"),
            gxe.ExpectColumnValuesToBeBetween(column="accurate_bills", min_value=0, description="accurate_bills >= 0"),
            gxe.ExpectColumnValuesToBeBetween(column="exceptions", min_value=0, description="exceptions >= 0"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="bills", column_B="accurate_bills", or_equal=True,
                description="accurate_bills <= bills"),
            gxe.ExpectColumnValuesToBeBetween(
                column="bill_accuracy", min_value=0, max_value=1, description="bill_accuracy in [0, 1]"),
            gxe.ExpectColumnValuesToNotBeNull(
                column="bill_accuracy", row_condition=col("bills") > 0,
                description="bill_accuracy set for a run with bills"),
        ]
    if table == "dim_accounts":
        return [
            gxe.ExpectColumnUniqueValueCountToBeBetween(
                column="as_of_date", min_value=0, max_value=1, description="one as-of date"),
        ]
    if table == "dq_row_reconciliation":
        return [
            *[gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, description=f"{c} >= 0")
              for c in ("raw_rows", "kept_rows", "duplicate_rows", "rejected_rows", "superseded_rows")],
            gxe.ExpectColumnDistinctValuesToEqualSet(
                column="source_file", value_set=export_names, description="one row per CIS export"),
        ]
    if table == "dq_rejected_rows":
        return [
            gxe.ExpectColumnValuesToBeInSet(
                column="source_file", value_set=export_names, description="a CIS export"),
            gxe.ExpectColumnValuesToBeBetween(column="raw_copies", min_value=1, description="raw_copies >= 1"),
        ]
    return []


def _derived_batches(table: str, frame: pd.DataFrame, c: MartContract,
                     periods: pd.DataFrame | None = None) -> list[Batch]:
    """Checks GX has no direct expectation for, run on a DataFrame derived from the table."""
    gxe = _gxe()
    out: list[Batch] = []
    cols = set(frame.columns)
    if table == "fct_cx_metrics" and {"metric_name", "period_grain", "period_start", "segment_type",
                                      "segment_value"} <= cols:
        # Every metric present for segment_type 'all' at every grain.
        metrics = c.accepted_values.get("metric_name") or sorted(frame["metric_name"].dropna().unique())
        grains = c.accepted_values.get("period_grain") or sorted(frame["period_grain"].dropna().unique())
        all_rows = frame[frame["segment_type"] == "all"]
        counts = all_rows.groupby(["metric_name", "period_grain"]).size()
        grid = pd.MultiIndex.from_product([metrics, grains], names=["metric_name", "period_grain"])
        coverage = counts.reindex(grid, fill_value=0).rename("all_segment_rows").reset_index()
        coverage.index = pd.Index(coverage["metric_name"] + "/" + coverage["period_grain"], name="metric/grain")
        out.append(Batch(MARTS_SUITE, table, "all-segment coverage", coverage, [
            gxe.ExpectColumnValuesToBeBetween(
                column="all_segment_rows", min_value=1,
                description="every metric has segment_type 'all' rows at every grain"),
        ]))

        # No missing month between a metric's first and last 'all' month.
        months = all_rows[all_rows["period_grain"] == "month"]
        pieces = []
        for metric, rows in months.groupby("metric_name"):
            starts = pd.to_datetime(rows["period_start"]).dt.to_period("M")
            span = pd.period_range(starts.min(), starts.max(), freq="M")
            n = starts.value_counts().reindex(span, fill_value=0)
            pieces.append(pd.DataFrame({"metric_name": metric, "month": span.astype(str),
                                        "all_segment_rows": n.to_numpy()}))
        gaps = (pd.concat(pieces, ignore_index=True) if pieces else
                pd.DataFrame({"metric_name": pd.Series(dtype=object), "month": pd.Series(dtype=object),
                              "all_segment_rows": pd.Series(dtype="int64")}))
        gaps.index = pd.Index(gaps["metric_name"] + "/" + gaps["month"], name="metric/month")
        out.append(Batch(MARTS_SUITE, table, "month coverage", gaps, [
            gxe.ExpectColumnValuesToBeBetween(
                column="all_segment_rows", min_value=1,
                description="no missing month between a metric's first and last month (segment all)"),
        ]))
        out.append(_alignment_batch(
            table, frame[["period_grain", "period_start"]] if periods is None else periods))
    if table == "fct_csat_rolling_13w" and "week_start" in cols:
        weeks = pd.DataFrame({"period_grain": "week", "period_start": frame["week_start"]})
        out.append(_alignment_batch(table, weeks))
    if table == "dq_row_reconciliation" and {"source_file", "raw_rows", "kept_rows", "duplicate_rows",
                                             "rejected_rows", "superseded_rows"} <= cols:
        rec = pd.DataFrame({
            "source_file": frame["source_file"],
            "raw_rows": frame["raw_rows"],
            "kept_plus_duplicate_plus_rejected_plus_superseded": frame["kept_rows"] + frame["duplicate_rows"]
            + frame["rejected_rows"] + frame["superseded_rows"],
        })
        rec.index = pd.Index(frame["source_file"].astype(str).to_numpy(), name="source_file")
        out.append(Batch(MARTS_SUITE, table, "reconciliation", rec, [
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="raw_rows", column_B="kept_plus_duplicate_plus_rejected_plus_superseded",
                description="raw_rows = kept_rows + duplicate_rows + rejected_rows + superseded_rows"),
        ]))
    return out


def _alignment_batch(table: str, periods: pd.DataFrame) -> Batch:
    gxe = _gxe()
    col = _col
    p = periods.drop_duplicates().copy()
    start = pd.to_datetime(p["period_start"])
    p["iso_weekday"] = start.dt.dayofweek + 1
    p["day_of_month"] = start.dt.day
    p.index = pd.Index(p["period_grain"].astype(str) + "/" + start.dt.strftime("%Y-%m-%d"), name="grain/start")
    return Batch(MARTS_SUITE, table, "period alignment", p, [
        gxe.ExpectColumnValuesToBeInSet(
            column="iso_weekday", value_set=[1], row_condition=col("period_grain") == "week",
            description="weeks start on a Monday"),
        gxe.ExpectColumnValuesToBeInSet(
            column="day_of_month", value_set=[1], row_condition=col("period_grain") == "month",
            description="months start on the 1st"),
    ])


def _pii_batches(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                 columns: list[tuple[str, str]], cfg: dict, personal_names: set[str],
                 values: bool = True) -> list[Batch]:
    """No personal data in a mart: column names, and e-mail / phone values in text columns."""
    gxe = _gxe()
    pcfg = cfg["personal_data"]
    name_regex = pcfg["column_name_regex"]
    if personal_names:
        flags, body = re.match(r"^(\(\?[a-z]+\))?(.*)$", name_regex).groups()
        exact = "|".join(re.escape(n) for n in sorted(personal_names))
        name_regex = f"{flags or ''}(?:{body})|^(?:{exact})$"
    names = pd.DataFrame({"column_name": pd.Series([c for c, _ in columns], dtype=object)})
    out = [Batch(MARTS_SUITE, table, "column names", names, [
        gxe.ExpectColumnValuesToNotMatchRegex(
            column="column_name", regex=name_regex,
            description="no personal-data column (full_name, email, phone, birth_date, caller_phone, ...)"),
    ])]
    text_cols = [c for c, t in columns if not _NON_TEXT_TYPE.match(t.strip())]
    if text_cols and values:
        q = " union all ".join(
            f"select distinct {contract.sql_literal(c)} as column_name, cast({_ident(c)} as varchar) as value "
            f"from {_ident(schema)}.{_ident(table)} where {_ident(c)} is not null"
            for c in text_cols
        )
        values = con.execute(q).df()
        values.index = pd.Index(values["column_name"].to_numpy(), name="column_name")
        out.append(Batch(MARTS_SUITE, table, "text values", values, [
            gxe.ExpectColumnValuesToNotMatchRegex(
                column="value", regex=pcfg["email_regex"], meta=PERSONAL,
                description="no e-mail address in a text value"),
            gxe.ExpectColumnValuesToNotMatchRegex(
                column="value", regex=pcfg["phone_regex"], meta=PERSONAL,
                description="no phone number in a text value"),
        ]))
    return out


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def mart_batches(duckdb_path: Path, cfg: dict, project_dir: Path = PROJECT_DIR) -> list[Batch]:
    """Suite cx_published_marts, on the tables of the marts schema."""
    return list(iter_mart_batches(duckdb_path, cfg, project_dir))


def iter_mart_batches(duckdb_path: Path, cfg: dict, project_dir: Path = PROJECT_DIR) -> Iterator[Batch]:
    """The batches of suite cx_published_marts, one at a time (see mart_batches).

    A table of at most `scale.sample_rows` rows is read whole into pandas. A
    larger one is validated as in-database aggregates (one DuckDB query counting
    the rows that break each contract rule, metric rule and personal-data
    pattern) plus a bounded repeatable sample on which the row-level
    expectations run; the derived checks (coverage, alignment) read only the
    few rows and columns they need."""
    gxe = _gxe()
    scale = scale_settings(cfg)
    schema = cfg["marts"]["schema"]
    contracts = load_mart_contracts(project_dir, cfg["marts"]["contract_ymls"])
    export_names = [e.name for e in contract.load_contract()]
    personal_names = {c for _, c in personal_data_columns()}
    con = _connect(cfg, duckdb_path)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = $1 order by table_name, ordinal_position", [schema]).fetchall()
        tables: dict[str, list[tuple[str, str]]] = {}
        for t, c, typ in rows:
            tables.setdefault(t, []).append((c, typ))
        yield Batch(
            MARTS_SUITE, f"schema {schema}", "tables",
            pd.DataFrame({"table_name": pd.Series(sorted(tables), dtype=object)}),
            [gxe.ExpectColumnDistinctValuesToContainSet(
                column="table_name", value_set=sorted(contracts),
                description="every published model is a table of the schema")],
        )
        for table in sorted(tables):
            c = contracts.get(table)
            rel = f"{_ident(schema)}.{_ident(table)}"
            n = int(con.execute(f"select count(*) from {rel}").fetchone()[0])
            exps = (_contract_expectations(c) + _mart_rules(table, export_names)) if c is not None else []
            if n <= scale["sample_rows"]:
                if c is not None:
                    frame = con.execute(f"select * from {rel}").df()
                    yield Batch(MARTS_SUITE, table, "rows", _keyed(frame, c.key_columns), exps)
                    yield from _derived_batches(table, frame, c)
                    del frame
                yield from _pii_batches(con, schema, table, tables[table], cfg, personal_names)
                continue
            counts, text_counted = _mart_counts(con, schema, table, tables[table], exps, cfg)
            yield _aggregate_batch(MARTS_SUITE, table, counts, n)
            if c is not None:
                sample = _mart_sample(con, rel, tables[table], c.key_columns, n, scale)
                yield Batch(MARTS_SUITE, table, "rows, sample", _keyed(sample, c.key_columns), exps,
                            f"sample: {len(sample)} of {n} rows (a hash slice of the key)", scope="sample")
                del sample
                reduced, periods = _derived_inputs(con, rel, table, tables[table])
                yield from _derived_batches(table, reduced, c, periods)
            yield from _pii_batches(con, schema, table, tables[table], cfg, personal_names,
                                    values=not text_counted)
    finally:
        con.close()


def _derived_inputs(con: duckdb.DuckDBPyConnection, rel: str, table: str,
                    columns: list[tuple[str, str]]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The rows and columns the derived checks of a large table need (not the table)."""
    names = {c for c, _ in columns}
    if table == "fct_cx_metrics" and {"metric_name", "period_grain", "period_start", "segment_type",
                                      "segment_value"} <= names:
        frame = con.execute(f"select metric_name, period_grain, period_start, segment_type, segment_value "
                            f"from {rel} where segment_type = 'all'").df()
        periods = con.execute(f"select distinct period_grain, period_start from {rel}").df()
        return frame, periods
    if table == "fct_csat_rolling_13w" and "week_start" in names:
        return con.execute(f"select distinct week_start from {rel}").df(), None
    if table == "dq_row_reconciliation":
        return con.execute(f"select * from {rel}").df(), None  # one row per export
    return pd.DataFrame(), None


def _mart_sample(con: duckdb.DuckDBPyConnection, rel: str, columns: list[tuple[str, str]],
                 key_columns: Sequence[str], rows: int, scale: dict) -> pd.DataFrame:
    """At most `sample_rows` rows, repeatably: those whose key hashes into a slice."""
    n = scale["sample_rows"]
    names = {c for c, _ in columns}
    key = [k for k in key_columns if k in names] or [c for c, _ in columns]
    h = f"hash({int(scale['sample_seed'])}, {', '.join(_ident(k) for k in key)})"
    slice_ = max(1, int(1_000_000 * 0.9 * n / max(rows, 1)))
    return con.execute(f"select * from {rel} where {h} % 1000000 < {slice_} order by {h} limit {n}").df()


def _sql_literal(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return contract.sql_literal(v)


_SQL_OPERATORS = {"==": "=", "!=": "is distinct from", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def _condition_sql(exp: Any) -> str | None:
    """The SQL of an expectation's row_condition ('true' without one; None if unknown)."""
    cond = getattr(exp, "row_condition", None)
    if cond is None:
        return "true"
    column = getattr(getattr(cond, "column", None), "name", None)
    operator = str(getattr(cond, "operator", ""))
    if column is not None and operator in ("IN", "NOT_IN") and isinstance(getattr(cond, "parameter", None), list):
        values = ", ".join(_sql_literal(v) for v in cond.parameter)
        # GX drops rows whose column is null from an IN / NOT IN condition, as SQL does
        return f"({_ident(column)} {'in' if operator == 'IN' else 'not in'} ({values}))"
    op = _SQL_OPERATORS.get(operator)
    if column is None or op is None or not hasattr(cond, "parameter"):
        return None
    return f"({_ident(column)} {op} {_sql_literal(cond.parameter)})"


def _rule_sql(exp: Any, rel: str) -> tuple[str, str] | None:
    """(failing, checked) count expressions over `rel` for a row-level expectation,
    counted as GX counts them (None for an expectation with no SQL form here)."""
    where = _condition_sql(exp)
    if where is None:
        return None
    kind = type(exp).__name__
    col = getattr(exp, "column", None)
    q = _ident(col) if col else None

    def counts(checked: str, failing: str) -> tuple[str, str]:
        return (f"count(*) filter (where {where} and {checked} and ({failing}))",
                f"count(*) filter (where {where} and {checked})")

    if kind == "ExpectColumnValuesToNotBeNull":
        return counts("true", f"{q} is null")
    if kind == "ExpectColumnValuesToBeNull":
        return counts("true", f"{q} is not null")
    if kind == "ExpectColumnValuesToBeBetween":
        out = ([f"{q} < {_sql_literal(exp.min_value)}"] if exp.min_value is not None else []) + \
              ([f"{q} > {_sql_literal(exp.max_value)}"] if exp.max_value is not None else [])
        return counts(f"{q} is not null", " or ".join(out) or "false")
    if kind == "ExpectColumnValuesToBeInSet":
        values = ", ".join(_sql_literal(v) for v in exp.value_set)
        return counts(f"{q} is not null", f"{q} not in ({values})")
    if kind == "ExpectColumnPairValuesAToBeGreaterThanB":
        a, b = _ident(exp.column_A), _ident(exp.column_B)
        op = ">=" if exp.or_equal else ">"
        return counts(f"not ({a} is null and {b} is null)", f"not coalesce({a} {op} {b}, false)")
    if kind in ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique") and where == "true":
        cols = [col] if col else list(exp.column_list)
        keys = ", ".join(_ident(k) for k in cols)
        present = " or ".join(f"{_ident(k)} is not null" for k in cols)
        return (f"(select coalesce(sum(n), 0) from (select count(*) as n from {rel} where {present} "
                f"group by {keys} having count(*) > 1))",
                f"count(*) filter (where {present})")
    if kind == "ExpectColumnUniqueValueCountToBeBetween" and where == "true":
        lo = exp.min_value if exp.min_value is not None else 0
        hi = f" or count(distinct {q}) > {_sql_literal(exp.max_value)}" if exp.max_value is not None else ""
        return f"(case when count(distinct {q}) < {_sql_literal(lo)}{hi} then 1 else 0 end)", "1"
    return None


def _re2_superset(regex: str) -> str:
    """The regex without its look-around groups (which DuckDB's RE2 lacks): it
    matches every text the full regex matches, and a few more."""
    out, i, n = [], 0, len(regex)
    while i < n:
        if regex.startswith(("(?<!", "(?<=", "(?!", "(?="), i):
            depth, j, in_class = 0, i, False
            while j < n:
                ch = regex[j]
                if ch == "\\":
                    j += 2
                    continue
                if in_class:
                    in_class = ch != "]"
                elif ch == "[":
                    in_class = True
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            i = j + 1
            continue
        if regex[i] == "\\":
            out.append(regex[i:i + 2])
            i += 2
            continue
        out.append(regex[i])
        i += 1
    return "".join(out)


def _phone_function(con: duckdb.DuckDBPyConnection, phone_regex: str) -> str:
    """A DuckDB function applying the full phone regex (Python's re) to a value."""
    rx = re.compile(phone_regex)
    name = "cx_gx_phone"
    try:
        con.create_function(name, lambda v: v is not None and rx.search(v) is not None,
                            [duckdb.sqltype("VARCHAR")], duckdb.sqltype("BOOLEAN"))
    except duckdb.Error:
        pass  # already registered on this connection
    return name


def _mart_counts(con: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[tuple[str, str]],
                 exps: list, cfg: dict) -> tuple[list[RuleCount], bool]:
    """One query over a large table: per expectation the rows breaking it, and per
    text column the values holding an e-mail address or a phone number."""
    rel = f"{_ident(schema)}.{_ident(table)}"
    names = {c for c, _ in columns}
    plan: list[tuple[str, str | None, dict, str, str]] = []
    skipped = []
    for exp in exps:
        kind = type(exp).__name__
        if kind == "ExpectTableColumnsToMatchOrderedList":
            continue  # judged on the sample (same columns)
        cols = [getattr(exp, a, None) for a in ("column", "column_A", "column_B")]
        cols = [c for c in cols if c] + list(getattr(exp, "column_list", None) or [])
        if not set(cols) <= names:
            skipped.append(exp.description)  # a missing column: reported on the sample
            continue
        sql = _rule_sql(exp, rel)
        if sql is None:
            skipped.append(exp.description)
            continue
        column = ", ".join(cols) if cols else None
        plan.append((exp.description or type(exp).__name__, column, {}, *sql))
    pcfg = cfg["personal_data"]
    text_cols = [c for c, t in columns if not _NON_TEXT_TYPE.match(t.strip())]
    email = contract.sql_literal(pcfg["email_regex"])
    try:
        phone_rx = contract.sql_literal(_re2_superset(pcfg["phone_regex"]))
        con.execute(f"select regexp_matches('', {phone_rx}), regexp_matches('', {email})")
        phone_fn = _phone_function(con, pcfg["phone_regex"])
    except duckdb.Error:
        text_cols = []  # a pattern DuckDB cannot compile: the text values are read into pandas instead
    for c in text_cols:
        v = f"cast({_ident(c)} as varchar)"
        plan.append(("no e-mail address in a text value", c, PERSONAL,
                     f"count(*) filter (where {v} is not null and regexp_matches({v}, {email}))",
                     f"count({_ident(c)})"))
        plan.append(("no phone number in a text value", c, PERSONAL,
                     f"count(*) filter (where case when regexp_matches({v}, {phone_rx}) "
                     f"then {phone_fn}({v}) else false end)",
                     f"count({_ident(c)})"))
    exprs = [e for *_, failing, checked in plan for e in (failing, checked)]
    row = con.execute(f"select {', '.join(exprs)} from {rel}").fetchone() if exprs else ()
    counts = [RuleCount(desc, column, int(row[2 * i] or 0), int(row[2 * i + 1] or 0), 1.0, meta)
              for i, (desc, column, meta, _, _) in enumerate(plan)]
    if skipped:
        log.info("%s: judged on the sample only: %s", table, "; ".join(map(str, skipped)))
    return counts, bool(text_cols) or not any(not _NON_TEXT_TYPE.match(t.strip()) for _, t in columns)



# ---------------------------------------------------------------------------
# Running the checkpoint
# ---------------------------------------------------------------------------
def _ephemeral_context():
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={},
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.enable_analytics(False)
    return context


def run_batches(batches: Iterable[Batch], results_dir: Path | str,
                checkpoint_name: str = "cx_data_quality") -> CheckpointOutcome:
    """Validate every batch with one GX checkpoint; write each validation result as JSON.

    Each batch's frame is written to a pickle file as soon as the batch is made
    and then dropped from memory (only its columns and index name are kept), so
    that at most one large sample is in memory at a time."""
    gx = _gx()
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    _remove_previous_results(results_dir)
    by_suite: dict[str, Batch] = {}
    with tempfile.TemporaryDirectory(prefix="cx-gx-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = _ephemeral_context()
        datasource = context.data_sources.add_pandas("cx_frames")
        definitions = []
        for i, batch in enumerate(batches):
            key = batch.key
            if key in by_suite:
                key = f"{key}.{i}"
            path = Path(tmp) / f"{i:04d}.pkl"
            batch.frame.to_pickle(path)
            batch.frame = batch.frame.iloc[:0]
            asset = datasource.add_pickle_asset(key, filepath_or_buffer=path)
            batch_definition = asset.add_batch_definition_whole_dataframe(key)
            suite = context.suites.add(gx.ExpectationSuite(name=key, expectations=batch.expectations))
            definitions.append(context.validation_definitions.add(
                gx.ValidationDefinition(name=key, data=batch_definition, suite=suite)))
            by_suite[key] = batch
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=checkpoint_name, validation_definitions=definitions, actions=[],
            result_format={"result_format": "SUMMARY"}))
        result = checkpoint.run()

    outcomes: list[ExpectationOutcome] = []
    files: list[Path] = []
    for validation in result.run_results.values():
        batch = by_suite[validation.suite_name]
        doc = validation.to_json_dict()
        for r in doc["results"]:
            _redact(r)
            outcomes.append(_outcome(batch, r))
        doc["meta"]["cx_table"] = batch.table
        doc["meta"]["cx_check"] = batch.check
        doc["meta"]["cx_suite"] = batch.suite
        doc["meta"]["cx_scope"] = batch.scope
        if batch.note:
            doc["meta"]["cx_note"] = batch.note
        path = results_dir / f"{validation.suite_name}.json"
        path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
        files.append(path)
    outcome = CheckpointOutcome(
        success=all(o.success for o in outcomes), results=outcomes,
        result_files=files, checkpoint_name=checkpoint_name)
    summary_path = results_dir / OUTCOME_FILE
    summary_path.write_text(json.dumps({
        "checkpoint": checkpoint_name,
        "success": outcome.success,
        "run_id": str(result.run_id),
        "result_files": [p.name for p in files],
        "results": [asdict(o) for o in outcomes],
    }, indent=2, default=str), encoding="utf-8")
    return outcome


def _remove_previous_results(results_dir: Path) -> None:
    """Delete the files the previous run listed (and only those), so no stale result stays."""
    previous = results_dir / OUTCOME_FILE
    try:
        names = json.loads(previous.read_text(encoding="utf-8")).get("result_files", [])
    except (OSError, ValueError, AttributeError):
        return
    for name in names:
        path = results_dir / Path(name).name
        if path.suffix == ".json":
            path.unlink(missing_ok=True)


def run_checkpoint(duckdb_path: Path | str | None, raw_dir: Path | str | None,
                   results_dir: Path | str, *, suites: Iterable[str] = (RAW_SUITE, MARTS_SUITE),
                   config_path: Path | str | None = None,
                   project_dir: Path = PROJECT_DIR,
                   only_deliveries: dict[str, set[str]] | None = None) -> CheckpointOutcome:
    """Run the checkpoint on the raw exports in `raw_dir` and the marts in `duckdb_path`.

    `suites` selects cis_raw_exports and/or cx_published_marts (or "raw" / "marts" / "all").
    """
    wanted: set[str] = set()
    for s in ([suites] if isinstance(suites, str) else suites):
        wanted.update(SUITE_CHOICES.get(s, (s,)))
    unknown = wanted - {RAW_SUITE, MARTS_SUITE}
    if unknown:
        raise ValueError(f"unknown suite(s): {', '.join(sorted(unknown))}")
    cfg = load_config(config_path)
    if RAW_SUITE in wanted and raw_dir is None:
        raise ValueError("the raw suite needs raw_dir")
    if MARTS_SUITE in wanted and (duckdb_path is None or not Path(duckdb_path).is_file()):
        raise FileNotFoundError(f"DuckDB warehouse not found: {duckdb_path}")
    parts: list[Iterable[Batch]] = []
    if RAW_SUITE in wanted:
        parts.append(iter_raw_batches(Path(raw_dir), cfg, only_deliveries))
    if MARTS_SUITE in wanted:
        parts.append(iter_mart_batches(Path(duckdb_path), cfg, project_dir))
    # Batches are made one at a time and handed to GX as files (bounded memory).
    return run_batches(itertools.chain(*parts), results_dir, cfg.get("checkpoint_name", "cx_data_quality"))


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
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
    for key in ("partial_unexpected_counts",):
        if key in res:
            res[key] = [{**c, "value": REDACTED} for c in res[key]]
    for key in ("partial_unexpected_index_list", "unexpected_index_list"):
        if key in res:
            res[key] = [{k: v for k, v in i.items() if k != column} if isinstance(i, dict) else i
                        for i in res[key]]


def _column_of(expectation_type: str, kwargs: dict) -> str | None:
    if "compound_columns" in expectation_type or "multicolumn" in expectation_type:
        return ", ".join(kwargs.get("column_list") or [])
    if kwargs.get("column"):
        return kwargs["column"]
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']}, {kwargs.get('column_B')}"
    return None


def _exception_message(info: dict) -> str | None:
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for v in info.values():
        if isinstance(v, dict) and v.get("raised_exception", True):
            msg = v.get("exception_message") or ""
            return msg.strip().splitlines()[-1] if msg.strip() else "exception"
    return None


def _details(r: dict, batch: Batch) -> str:
    res = r.get("result") or {}
    parts = []
    error = _exception_message(r.get("exception_info") or {})
    if error:
        parts.append(f"error: {error}")
    if batch.note:
        parts.append(batch.note)
    index_name = batch.frame.index.name
    keys = [str(i[index_name]) for i in res.get("partial_unexpected_index_list") or []
            if isinstance(i, dict) and index_name in i]
    if keys:
        parts.append(f"at {index_name} " + ", ".join(dict.fromkeys(keys)))
    values = res.get("partial_unexpected_list")
    if values and any(v != REDACTED for v in values) and not isinstance(values[0], dict):
        parts.append("values " + ", ".join(dict.fromkeys(repr(v) for v in values)))
    if res.get("partial_missing_list"):
        parts.append("missing " + ", ".join(map(str, res["partial_missing_list"])))
    if (res.get("details") or {}).get("mismatched"):
        parts.append("observed columns " + ", ".join(map(str, res.get("observed_value") or [])))
    elif "observed_value" in res and not parts:
        parts.append(f"observed {res['observed_value']}")
    return "; ".join(parts)


def _outcome(batch: Batch, r: dict) -> ExpectationOutcome:
    cfg = r["expectation_config"]
    res = r.get("result") or {}
    meta = cfg.get("meta") or {}
    raised = bool(_exception_message(r.get("exception_info") or {}))
    column = _column_of(cfg["type"], cfg.get("kwargs") or {})
    unexpected, elements = res.get("unexpected_count"), res.get("element_count")
    details = "" if r.get("success") else _details(r, batch)
    if "cx_failing_rows" in meta:  # a rule counted in the database (see _aggregate_batch)
        column = meta.get("cx_column")
        unexpected, elements = meta["cx_failing_rows"], meta.get("cx_checked_rows")
        if not r.get("success") and not raised:
            details = f"{unexpected} of {elements} rows break it"
    return ExpectationOutcome(
        suite=batch.suite,
        table=batch.table,
        check=batch.check,
        expectation_type=cfg["type"],
        column=column,
        unexpected_count=unexpected,
        success=bool(r.get("success")),
        element_count=elements,
        description=cfg.get("description"),
        details=details,
        raised_exception=raised,
        scope=batch.scope,
    )


def format_summary(outcome: CheckpointOutcome, *, failures_only: bool = False, width: int = 80) -> str:
    """A readable table (status, suite, table, expectation, rows failing), failures first."""
    rows = sorted(outcome.results, key=lambda o: (o.success, o.suite, o.table, o.check, o.raised_exception))
    if failures_only:
        rows = [o for o in rows if not o.success]

    def cut(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 1] + "…"

    table = [("STATUS", "SUITE", "TABLE", "EXPECTATION", "ROWS FAILING", "DETAILS")]
    for o in rows:
        where = o.table if o.check in ("rows", "distinct rows") else f"{o.table} ({o.check})"
        expectation = o.expectation_type + (f"({o.column})" if o.column else "")
        if o.description:
            expectation += f": {o.description}"
        failing = "-" if o.unexpected_count is None else str(o.unexpected_count)
        if o.raised_exception:
            failing = "error"
        table.append((o.status, o.suite, where, cut(expectation, 110), failing, cut(o.details, width)))
    widths = [max(len(r[i]) for r in table) for i in range(6)]
    lines = []
    for n, r in enumerate(table):
        lines.append("  ".join(r[i].ljust(widths[i]) if i < 5 else r[i] for i in range(6)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths[:5]) + "  " + "-" * min(widths[5], width))
    failed = len(outcome.failures)
    head = (f"Great Expectations checkpoint {outcome.checkpoint_name}: "
            f"{'PASSED' if outcome.success else 'FAILED'} - {failed} of {len(outcome.results)} "
            f"expectations failed")
    suites = sorted({o.suite for o in outcome.results})
    for s in suites:
        n = sum(1 for o in outcome.results if o.suite == s)
        f = sum(1 for o in outcome.results if o.suite == s and not o.success)
        head += f"\n  {s}: {n - f} passed, {f} failed"
    return head + "\n\n" + "\n".join(lines)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cx_warehouse.gx_checks",
        description="Run the Great Expectations checkpoint on the raw CIS exports and the published marts.")
    parser.add_argument("--duckdb", default=os.environ.get("DUCKDB_PATH", "warehouse/cx_warehouse.duckdb"),
                        help="DuckDB warehouse file (read only; default $DUCKDB_PATH or warehouse/cx_warehouse.duckdb)")
    parser.add_argument("--raw-dir", default="data/sample_exports", help="directory of the 14 CIS export CSVs")
    parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR),
                        help="where the validation results are written as JSON (default gx/uncommitted/validations)")
    parser.add_argument("--suite", choices=sorted(SUITE_CHOICES), default="all", help="which suite(s) to run")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="checkpoint settings (gx/checkpoint.yml)")
    parser.add_argument("--failures-only", action="store_true", help="list only the failing expectations")
    args = parser.parse_args(argv)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    try:
        outcome = run_checkpoint(args.duckdb, args.raw_dir, args.results_dir,
                                 suites=args.suite, config_path=args.config)
    except (FileNotFoundError, ValueError, duckdb.Error) as exc:
        print(f"gx_checks: {exc}", file=sys.stderr)
        return 2
    print(format_summary(outcome, failures_only=args.failures_only))
    print(f"\nValidation results: {Path(args.results_dir)}")
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
