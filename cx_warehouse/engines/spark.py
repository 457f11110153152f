"""Spark build of the warehouse: where its tables live and how its published
marts are read back (the comparison with a DuckDB build is
``cx_warehouse.engines.compare.compare_marts_spark``).

The Spark target (profiles.yml, target ``spark``) keeps a Derby metastore and
a warehouse folder under ``CX_SPARK_DIR``; every table is a folder of Parquet
files ``<dir>/warehouse/<schema>.db/<table>/``. The marts are read from those
folders with DuckDB's Parquet reader, so no second JVM (and no second hold on the embedded
Derby metastore) is needed.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_SPARK_DIR = PROJECT / "warehouse" / "spark"


def spark_dir() -> Path:
    return Path(os.environ.get("CX_SPARK_DIR", DEFAULT_SPARK_DIR))


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
