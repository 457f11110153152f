"""Compare the published marts of two builds of the same exports: a DuckDB
warehouse file and a PostgreSQL database or a Spark warehouse folder.

    from cx_warehouse.engines.compare import compare_marts, compare_marts_spark
    assert compare_marts("/tmp/ref.duckdb", pg_env) == []
    assert compare_marts_spark("/tmp/ref.duckdb", spark_dir, manifest_path) == []

The marts compared are the models under models/marts materialised as table
or incremental (read from target/manifest.json; the views over the test log,
dq_test_results and dq_test_run_summary, hold each run's own history and are
not compared). Rows are compared as sets with multiplicity: both sides are
sorted by every column and compared row by row; numbers (integers, decimals,
floats) are equal within 1e-9 (relative, or absolute near zero); dates and
timestamps are compared as ISO text, text exactly. Column names must match;
an incremental mart's loaded_at (when the build wrote the row) is left out,
as the publish leaves it out.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections import Counter
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-9


def published_marts(manifest_path: Path | str | None = None) -> list[tuple[str, str]]:
    """(schema, table) of every model under models/marts materialised as a
    table or incremental, from a dbt manifest (default: target/manifest.json)."""
    manifest = json.loads(Path(manifest_path or PROJECT / "target" / "manifest.json").read_text())
    out = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or not node["original_file_path"].startswith("models/marts/"):
            continue
        if node["config"].get("materialized") in ("table", "incremental"):
            out.append((node["schema"], node.get("alias") or node["name"]))
    return sorted(out)


def _norm(v):
    """A value as a comparable Python scalar: numbers as float, dates and
    timestamps as ISO text, NaN as None."""
    if v is None or (type(v).__name__ in ("NaTType", "NAType")):
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, decimal.Decimal)):
        return float(v)
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalars
        return _norm(v.item())
    return v


def _sort_key(row):
    # None first; numbers rounded so that values equal within the tolerance sort alike
    key = []
    for v in row:
        if v is None:
            key.append((0, 0, ""))
        elif isinstance(v, bool):
            key.append((1, int(v), ""))
        elif isinstance(v, float):
            key.append((2, float(f"{v:.6g}") if v else 0.0, ""))
        else:
            key.append((3, 0, str(v)))
    return key


def _rounded(row):
    return tuple(float(f"{v:.9g}") if isinstance(v, float) else v for v in row)


def _equal(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b


def _duckdb_rows(con, schema: str, table: str):
    cur = con.execute(f'select * from "{schema}"."{table}"')
    cols = [d[0] for d in cur.description]
    return cols, [tuple(_norm(v) for v in r) for r in cur.fetchall()]


def _pg_rows(con, schema: str, table: str):
    with con.cursor() as cur:
        cur.execute(f'select * from "{schema}"."{table}"')
        cols = [d[0] for d in cur.description]
        return cols, [tuple(_norm(v) for v in r) for r in cur.fetchall()]


def _spark_rows(con, base: Path, schema: str, table: str):
    """A Spark table read from its folder of Parquet files (partition folders
    name=value become columns again, at the end: columns are compared by name)."""
    from cx_warehouse.engines.spark import table_folder

    folder = table_folder(schema, table, Path(base))
    if not folder.is_dir():
        raise FileNotFoundError(f"no table folder {folder}")
    cur = con.execute("select * from read_parquet(?, hive_partitioning = true, union_by_name = true)",
                      [str(folder / "**" / "*.parquet")])
    cols = [d[0] for d in cur.description]
    return cols, [tuple(_norm(v) for v in r) for r in cur.fetchall()]


def _published_columns(table: tuple[list[str], list[tuple]]) -> tuple[list[str], list[tuple]]:
    """A mart without its bookkeeping columns (an incremental mart's loaded_at: when each build
    wrote the row, which differs between any two builds; the publish leaves it out too)."""
    from cx_warehouse.publish import BOOKKEEPING_COLUMNS

    cols, rows = table
    keep = [i for i, c in enumerate(cols) if c not in BOOKKEEPING_COLUMNS]
    if len(keep) == len(cols):
        return table
    return [cols[i] for i in keep], [tuple(r[i] for i in keep) for r in rows]


def table_differences(name: str, left: tuple[list[str], list[tuple]], right: tuple[list[str], list[tuple]],
                      engine: str, same_column_order: bool = True, max_examples: int = 3) -> list[str]:
    """What differs between one mart on DuckDB (left) and on `engine` (right),
    each given as (columns, normalised rows): [] when equal."""
    (dcols, drows), (pcols, prows) = left, right
    diffs = []
    if dcols != pcols:
        if sorted(dcols) != sorted(pcols):
            return [f"{name}: columns differ: duckdb {dcols} vs {engine} {pcols}"]
        if same_column_order:
            diffs.append(f"{name}: columns in another order: duckdb {dcols} vs {engine} {pcols}")
        order = [pcols.index(c) for c in dcols]
        prows = [tuple(r[i] for i in order) for r in prows]
    if len(drows) != len(prows):
        # rows of one side only (numbers rounded to 9 significant digits)
        only_d = Counter(map(_rounded, drows)) - Counter(map(_rounded, prows))
        only_p = Counter(map(_rounded, prows)) - Counter(map(_rounded, drows))
        return diffs + [f"{name}: {len(drows)} rows on duckdb, {len(prows)} on {engine}; "
                        f"{sum(only_d.values())} only on duckdb, e.g. "
                        f"{[dict(zip(dcols, r)) for r in list(only_d)[:max_examples]]}; "
                        f"{sum(only_p.values())} only on {engine}, e.g. "
                        f"{[dict(zip(dcols, r)) for r in list(only_p)[:max_examples]]}"[:3000]]
    drows = sorted(drows, key=_sort_key)
    prows = sorted(prows, key=_sort_key)
    bad = [(d, p) for d, p in zip(drows, prows) if not all(_equal(a, b) for a, b in zip(d, p))]
    if bad:
        examples = "; ".join(
            "duckdb " + str({c: a for c, a, b in zip(dcols, d, p) if not _equal(a, b)})
            + f" vs {engine} " + str({c: b for c, a, b in zip(dcols, d, p) if not _equal(a, b)})
            + " (row " + str(dict(zip(dcols, d)))[:300] + ")"
            for d, p in bad[:max_examples])
        diffs.append(f"{name}: {len(bad)} of {len(drows)} sorted rows differ: {examples}")
    return diffs


def _compare(duckdb_path: Path | str, engine: str, read_other, manifest_path, same_column_order: bool,
             max_examples: int) -> list[str]:
    import duckdb

    diffs: list[str] = []
    duck = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        for schema, table in published_marts(manifest_path):
            name = f"{schema}.{table}"
            try:
                left = _duckdb_rows(duck, schema, table)
            except duckdb.Error as exc:
                diffs.append(f"{name}: cannot be read on DuckDB ({str(exc).splitlines()[0]})")
                continue
            try:
                right = read_other(schema, table)
            except Exception as exc:  # psycopg2.Error, a missing Spark table folder
                diffs.append(f"{name}: cannot be read on {engine} ({str(exc).splitlines()[0]})")
                continue
            diffs += table_differences(name, _published_columns(left), _published_columns(right), engine,
                                       same_column_order, max_examples)
    finally:
        duck.close()
    return diffs


def compare_marts(duckdb_path: Path | str, pg_env: dict[str, str], manifest_path: Path | str | None = None,
                  max_examples: int = 3) -> list[str]:
    """Differences between the marts of a DuckDB warehouse file and a
    PostgreSQL database (libpq variables in pg_env), one text per problem:
    a mart missing on one side, columns that differ, row counts, rows that
    differ (with up to max_examples examples per mart). Empty: identical."""
    from cx_warehouse.engines.postgres import connect

    pg = connect(pg_env)

    def read(schema: str, table: str):
        try:
            return _pg_rows(pg, schema, table)
        except Exception:
            pg.rollback()
            raise

    try:
        return _compare(duckdb_path, "postgres", read, manifest_path, True, max_examples)
    finally:
        pg.close()


def compare_marts_spark(duckdb_path: Path | str, spark_dir: Path | str, manifest_path: Path | str | None = None,
                        max_examples: int = 3) -> list[str]:
    """The same for a Spark build whose CX_SPARK_DIR is spark_dir (its tables
    are read from their Parquet folders by DuckDB: no second JVM, and no
    second hold on the embedded Derby metastore). Partition columns come
    last on Spark, so columns are matched by name."""
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")  # Spark writes timestamps adjusted to UTC
    try:
        return _compare(duckdb_path, "spark", lambda s, t: _spark_rows(con, Path(spark_dir), s, t),
                        manifest_path, False, max_examples)
    finally:
        con.close()


if __name__ == "__main__":
    # python -m cx_warehouse.engines.compare DUCKDB_FILE                       (PostgreSQL: PG* variables)
    # python -m cx_warehouse.engines.compare DUCKDB_FILE --spark-dir DIR [--manifest target/manifest.json]
    import argparse
    import os
    import sys

    p = argparse.ArgumentParser(prog="python -m cx_warehouse.engines.compare",
                                description="Compare another engine's published marts with a DuckDB build.")
    p.add_argument("duckdb_path")
    p.add_argument("--spark-dir", help="compare the Spark build with this CX_SPARK_DIR (default: PostgreSQL)")
    p.add_argument("--manifest", help="the other build's manifest.json (default target/manifest.json)")
    a = p.parse_args()
    found = (compare_marts_spark(a.duckdb_path, a.spark_dir, a.manifest) if a.spark_dir
             else compare_marts(a.duckdb_path, dict(os.environ), a.manifest))
    print("\n".join(found) if found else "no differences")
    sys.exit(1 if found else 0)
