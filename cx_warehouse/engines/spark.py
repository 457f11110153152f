"""Spark build of the warehouse: how the exports reach Spark, where its
tables live and how its published marts are read back (the comparison with a
DuckDB build is ``cx_warehouse.engines.compare.compare_marts_spark``).

The exports are read by DuckDB's intake (``cx_warehouse.engines.intake``: the
readers of DuckDB's staging, so a delivery is read by one set of rules on
every engine) into an intake folder Spark reads, ``CX_SPARK_INTAKE_DIR``
(default ``<CX_SPARK_DIR>/intake``)::

    python -m cx_warehouse.engines.spark load --raw-dir DIR [--full]

- ``batches/<batch>/<export>.rows.parquet``: the rows of the deliveries read
  by one load (the contract columns as text, ``source_delivery``,
  ``delivery_fingerprint``); a load reads only the new and re-sent
  deliveries, so a day costs a day;
- ``deliveries.parquet``: one row per delivery in force (export, name,
  fingerprint, kind, path, the batch holding its rows, the contract columns
  it was read with: a column added since reads the export again): Spark's listing;
- ``malformed_records.parquet``, ``stray_quotes.parquet``: the malformed CSV
  records and stray quotes of those deliveries, by export.

Spark's on-run-start (``spark__cis_register_sources``) makes ``cis.raw_X``
views over them; a batch no delivery points to any more is removed.

The Spark target (profiles.yml, target ``spark``) keeps a Derby metastore and
a warehouse folder under ``CX_SPARK_DIR``; every table is a folder of Parquet
files ``<dir>/warehouse/<schema>.db/<table>/``. The marts are read from those
folders with DuckDB's Parquet reader, so no second JVM (and no second hold on the embedded
Derby metastore) is needed.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from .intake import LoadError, command_exit, plan_reads, read_with_duckdb

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


# --------------------------------------------------------------------------
# loading: DuckDB's intake into the folder Spark reads


def intake_dir(base: Path | None = None) -> Path:
    """Where the loader writes and Spark reads the exports (spark__cis_intake_dir)."""
    if base is None and os.environ.get("CX_SPARK_INTAKE_DIR"):
        return Path(os.environ["CX_SPARK_INTAKE_DIR"])
    return (base or spark_dir()) / "intake"


DELIVERY_COLUMNS = {"export_name": "varchar", "source_delivery": "varchar", "delivery_fingerprint": "varchar",
                    "file_kind": "varchar", "source_path": "varchar", "batch": "varchar", "contract_columns": "varchar"}
MALFORMED_COLUMNS = {"export_name": "varchar", "source_delivery": "varchar", "delivery_fingerprint": "varchar",
                     "source_line": "integer", "reason": "varchar", "raw_text": "varchar"}
STRAY_COLUMNS = {"export_name": "varchar", "source_delivery": "varchar", "delivery_fingerprint": "varchar",
                 "key_text": "varchar", "column_name": "varchar"}


@contextlib.contextmanager
def _locked(folder: Path):
    import fcntl

    with open(folder / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoadError(f"{folder}: another load into this intake folder is in progress") from None
        yield


def load(raw_dir: Path | str, base: Path | None = None, full: bool = False, log=print) -> dict[str, dict]:
    """Read the new and re-sent deliveries under raw_dir with DuckDB's intake
    into the intake folder (the module's docstring); `full` reads them all.
    Returns {export: {new, unchanged, removed, rows, malformed}}. Raises
    LoadError with one line per file-level fault (the DuckDB run's preflight)."""
    import duckdb

    from cx_warehouse.contract import load_contract, preflight, sql_literal

    raw_dir = Path(raw_dir).resolve()
    exports = load_contract()
    problems = preflight(raw_dir, exports)
    if problems:
        raise LoadError("\n".join(problems))
    folder = intake_dir(base).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "deliveries.parquet"
    con = duckdb.connect()
    results = {}
    with _locked(folder), contextlib.closing(con):
        for name, columns in (("deliveries", DELIVERY_COLUMNS), ("malformed", MALFORMED_COLUMNS),
                              ("stray", STRAY_COLUMNS)):
            con.execute(f"create table {name} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
        if manifest.is_file():  # what earlier loads read (on --full, every entry is dropped below)
            con.execute(f"insert into deliveries by name select * from read_parquet({sql_literal(str(manifest))})")
            for name, file in (("malformed", "malformed_records"), ("stray", "stray_quotes")):
                con.execute(f"insert into {name} by name select * from read_parquet("
                            f"{sql_literal(str(folder / (file + '.parquet')))})")
        batch = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
        plans = {}
        for export in exports:
            loaded = dict(con.execute("select source_delivery, delivery_fingerprint from deliveries "
                                      "where export_name = ?", [export.name]).fetchall())
            # deliveries read under other contract columns (a column added since) are read
            # again, all of them: Spark reads one schema over the export's rows files
            other_columns = con.execute("select count(*) from deliveries where export_name = ? and "
                                        "contract_columns is distinct from ?",
                                        [export.name, ",".join(export.column_names)]).fetchone()[0]
            plans[export.name] = plan_reads(export, raw_dir, loaded, full or other_columns > 0)
        to_read = [d for plan in plans.values() for d in plan["read"]]
        out = folder / "batches" / batch
        if to_read:
            read_with_duckdb(to_read, out, "spark_intake")
        for export in exports:
            plan = plans[export.name]
            dropped = plan["stale"] + [d.delivery for d in plan["read"]]
            for name in ("deliveries", "malformed", "stray"):
                con.execute(f"delete from {name} where export_name = ? and list_contains(?, source_delivery)",
                            [export.name, dropped])
            if plan["read"]:
                con.executemany("insert into deliveries values (?, ?, ?, ?, ?, ?, ?)",
                                [[export.name, d.delivery, d.fingerprint, d.kind, str(d.path), batch,
                                  ",".join(export.column_names)] for d in plan["read"]])
            extras = {"malformed": "source_line, reason, raw_text", "stray": "key_text, column_name"}
            for name, columns in extras.items():
                file = out / f"{export.name}.{name}.parquet"
                if file.is_file():
                    con.execute(f"insert into {name} select ?, f.source_delivery, d.delivery_fingerprint, {columns} "
                                f"from read_parquet({sql_literal(str(file))}) as f inner join deliveries as d "
                                f"on d.export_name = ? and d.source_delivery = f.source_delivery",
                                [export.name, export.name])
            rows_file = out / f"{export.name}.rows.parquet"
            results[export.name] = {
                "new": len(plan["read"]), "unchanged": plan["unchanged"], "removed": plan["removed"],
                "rows": con.execute(f"select count(*) from read_parquet({sql_literal(str(rows_file))})").fetchone()[0]
                if rows_file.is_file() else 0,
                "malformed": con.execute("select count(*) from malformed where export_name = ? and list_contains(?, "
                                         "source_delivery)", [export.name, [d.delivery for d in plan["read"]]]
                                         ).fetchone()[0]}
            r = results[export.name]
            log(f"{export.name}: {r['new']} new deliveries ({r['rows']} rows, {r['malformed']} malformed records), "
                f"{r['unchanged']} already loaded" + (f", {r['removed']} removed" if r['removed'] else ""))
        # the three listings replaced whole (each written beside, then renamed), the
        # deliveries last: they are the commit point (a load stopped before them reads
        # this batch's deliveries again next time); then the batches no delivery points to
        for name, file in (("malformed", "malformed_records"), ("stray", "stray_quotes"),
                           ("deliveries", "deliveries")):
            tmp = folder / f".{file}.parquet.tmp"
            con.execute(f"copy (select * from {name} order by export_name, source_delivery) to "
                        f"{sql_literal(str(tmp))} (format parquet)")
            tmp.replace(folder / f"{file}.parquet")
        used = {b for (b,) in con.execute("select distinct batch from deliveries").fetchall()}
        for old in (folder / "batches").glob("*"):
            if old.name not in used:
                shutil.rmtree(old, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cx_warehouse.engines.spark",
                                     description="Read the CIS exports with DuckDB's intake into the folder Spark reads.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    p_load = sub.add_parser("load", help="read the new deliveries under --raw-dir into the intake folder")
    p_load.add_argument("--raw-dir", required=True, type=Path)
    p_load.add_argument("--full", action="store_true", help="read every delivery again")
    args = parser.parse_args(argv)

    def run() -> None:
        started = time.monotonic()
        results = load(args.raw_dir, full=args.full)
        print(f"read {sum(r['rows'] for r in results.values())} rows of {sum(r['new'] for r in results.values())} "
              f"new deliveries into {intake_dir()} in {time.monotonic() - started:.1f} s")

    return command_exit(run, args.debug)


if __name__ == "__main__":
    sys.exit(main())
