"""Spark build of the warehouse: where its tables live and how its published
marts compare with a DuckDB build of the same exports.

The Spark target (profiles.yml, target ``spark``) keeps a Derby metastore and
a warehouse folder under ``CX_SPARK_DIR``; every table is a folder of Parquet
files ``<dir>/warehouse/<schema>.db/<table>/``. The marts are read from those
folders with DuckDB's Parquet reader, so no second JVM (and no second hold on the embedded
Derby metastore) is needed.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
from pathlib import Path

import pandas as pd

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_SPARK_DIR = PROJECT / "warehouse" / "spark"
# Views over the test log, different on every run by design.
SKIP_MARTS = ("dq_test_results", "dq_test_run_summary")


def spark_dir() -> Path:
    return Path(os.environ.get("CX_SPARK_DIR", DEFAULT_SPARK_DIR))


def published_marts(manifest: Path) -> list[tuple[str, str]]:
    """(schema, table) of every model under models/marts materialized as a
    table or incremental, from a dbt manifest.json."""
    nodes = json.loads(Path(manifest).read_text())["nodes"].values()
    out = []
    for n in nodes:
        if n["resource_type"] != "model" or not n["original_file_path"].startswith("models/marts/"):
            continue
        if n["config"].get("materialized") not in ("table", "incremental"):
            continue
        out.append((n["schema"], n["alias"] or n["name"]))
    return sorted(out)


def table_folder(schema: str, table: str, base: Path | None = None) -> Path:
    return (base or spark_dir()) / "warehouse" / f"{schema}.db" / table


def read_spark_table(schema: str, table: str, base: Path | None = None) -> pd.DataFrame:
    """A Parquet table of the Spark warehouse as a DataFrame, read by DuckDB
    from the table's folder (partition folders name=value read back as
    columns; Spark's _SUCCESS and .crc files are not Parquet and are skipped)."""
    import duckdb

    folder = table_folder(schema, table, base)
    if not folder.is_dir():
        raise FileNotFoundError(f"{schema}.{table}: no table folder {folder}")
    con = duckdb.connect()
    try:
        return con.execute("select * from read_parquet(?, hive_partitioning = true, union_by_name = true)",
                           [str(folder / "**" / "*.parquet")]).df()
    finally:
        con.close()


def read_duckdb_table(duckdb_path: Path, schema: str, table: str) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        return con.execute(f'select * from "{schema}"."{table}"').df()
    finally:
        con.close()


def _value(v):
    """One cell in a comparable form: None for nulls, floats for numbers,
    ISO text for dates and timestamps (timestamps at microseconds)."""
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (bool,)) or type(v).__name__ == "bool_":
        return bool(v)
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return pd.Timestamp(v).tz_localize(None).strftime("%Y-%m-%d %H:%M:%S.%f") if pd.Timestamp(v).tzinfo \
            else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if hasattr(v, "item"):  # numpy scalars
        return _value(v.item())
    if isinstance(v, int):
        return float(v)
    return v


def _sort_key(row: tuple) -> tuple:
    return tuple((0, "") if v is None else (1, f"{v:.9g}") if isinstance(v, float) else (1, str(v)) for v in row)


def _same(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return a == b


def frame_differences(left: pd.DataFrame, right: pd.DataFrame, tol: float = 1e-9, examples: int = 3) -> list[str]:
    """What differs between two tables, compared by column name and row for
    row (rows sorted), floats within `tol`; [] when equal."""
    lcols = [c.lower() for c in left.columns]
    rcols = [c.lower() for c in right.columns]
    problems = []
    if sorted(lcols) != sorted(rcols):
        problems.append(f"columns differ: only duckdb {sorted(set(lcols) - set(rcols))}, "
                        f"only spark {sorted(set(rcols) - set(lcols))}")
        return problems
    left = left.set_axis(lcols, axis=1)
    right = right.set_axis(rcols, axis=1)[lcols]
    if len(left) != len(right):
        problems.append(f"row count: duckdb {len(left)}, spark {len(right)}")
    lrows = sorted((tuple(_value(v) for v in r) for r in left.itertuples(index=False, name=None)), key=_sort_key)
    rrows = sorted((tuple(_value(v) for v in r) for r in right.itertuples(index=False, name=None)), key=_sort_key)
    bad = 0
    for i, (a, b) in enumerate(zip(lrows, rrows)):
        cols = [c for c, x, y in zip(lcols, a, b) if not _same(x, y, tol)]
        if cols:
            bad += 1
            if bad <= examples:
                problems.append(f"row {i}: " + ", ".join(f"{c}: duckdb {x!r} spark {y!r}"
                                                         for c, x, y in zip(lcols, a, b) if c in cols))
    if bad:
        problems.append(f"{bad} of {min(len(lrows), len(rrows))} sorted rows differ")
    return problems


def compare_marts_spark(duckdb_path: Path | str, manifest: Path | str | None = None,
                        spark_base: Path | str | None = None, skip=SKIP_MARTS,
                        tol: float = 1e-9) -> dict[str, list[str]]:
    """Every published mart of the Spark warehouse against the DuckDB build
    of the same exports: {mart: [differences]}, only marts that differ.

    manifest: the Spark build's target/manifest.json (default target/ of the
    project); spark_base: its CX_SPARK_DIR (default the env var or
    warehouse/spark)."""
    manifest = Path(manifest) if manifest else PROJECT / "target" / "manifest.json"
    base = Path(spark_base) if spark_base else None
    out: dict[str, list[str]] = {}
    for schema, table in published_marts(manifest):
        if table in skip:
            continue
        try:
            spark = read_spark_table(schema, table, base)
        except FileNotFoundError as exc:
            out[table] = [str(exc)]
            continue
        problems = frame_differences(read_duckdb_table(Path(duckdb_path), schema, table), spark, tol=tol)
        if problems:
            out[table] = problems
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Compare the Spark build's marts with a DuckDB build.")
    p.add_argument("duckdb_path")
    p.add_argument("--manifest")
    p.add_argument("--spark-dir")
    a = p.parse_args(argv)
    diffs = compare_marts_spark(a.duckdb_path, a.manifest, a.spark_dir)
    for mart, problems in sorted(diffs.items()):
        print(f"{mart}:")
        for line in problems:
            print(f"  {line}")
    print("all marts equal" if not diffs else f"{len(diffs)} marts differ")
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
