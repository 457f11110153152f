"""Compare the published marts of two builds of the same exports: a DuckDB
warehouse file and a PostgreSQL database.

    from cx_warehouse.engines.compare import compare_marts
    assert compare_marts("/tmp/ref.duckdb", pg_env) == []

The marts compared are the models under models/marts materialised as table
or incremental (read from target/manifest.json; the views over the test log,
dq_test_results and dq_test_run_summary, hold each run's own history and are
not compared). Rows are compared as sets with multiplicity: both sides are
sorted by every column and compared row by row; numbers (integers, decimals,
floats) are equal within 1e-9 (relative, or absolute near zero); dates and
timestamps are compared as ISO text, text exactly. Column names must match.
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
    if v is None:
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


def compare_marts(duckdb_path: Path | str, pg_env: dict[str, str], manifest_path: Path | str | None = None,
                  max_examples: int = 3) -> list[str]:
    """Differences between the marts of a DuckDB warehouse file and a
    PostgreSQL database (libpq variables in pg_env), one text per problem:
    a mart missing on one side, columns that differ, row counts, rows that
    differ (with up to max_examples examples per mart). Empty: identical."""
    import duckdb

    from cx_warehouse.engines.postgres import connect

    diffs: list[str] = []
    duck = duckdb.connect(str(duckdb_path), read_only=True)
    pg = connect(pg_env)
    try:
        for schema, table in published_marts(manifest_path):
            name = f"{schema}.{table}"
            try:
                dcols, drows = _duckdb_rows(duck, schema, table)
            except duckdb.Error as exc:
                diffs.append(f"{name}: cannot be read on DuckDB ({str(exc).splitlines()[0]})")
                continue
            try:
                pcols, prows = _pg_rows(pg, schema, table)
            except Exception as exc:  # psycopg2.Error
                pg.rollback()
                diffs.append(f"{name}: cannot be read on PostgreSQL ({str(exc).splitlines()[0]})")
                continue
            if dcols != pcols:
                diffs.append(f"{name}: columns differ: duckdb {dcols} vs postgres {pcols}")
                if sorted(dcols) != sorted(pcols):
                    continue
                order = [pcols.index(c) for c in dcols]
                prows = [tuple(r[i] for i in order) for r in prows]
            if len(drows) != len(prows):
                # rows of one side only (numbers rounded to 9 significant digits)
                only_d = Counter(map(_rounded, drows)) - Counter(map(_rounded, prows))
                only_p = Counter(map(_rounded, prows)) - Counter(map(_rounded, drows))
                diffs.append(f"{name}: {len(drows)} rows on duckdb, {len(prows)} on postgres; "
                             f"{sum(only_d.values())} only on duckdb, e.g. "
                             f"{[dict(zip(dcols, r)) for r in list(only_d)[:max_examples]]}; "
                             f"{sum(only_p.values())} only on postgres, e.g. "
                             f"{[dict(zip(dcols, r)) for r in list(only_p)[:max_examples]]}"[:3000])
                continue
            drows.sort(key=_sort_key)
            prows.sort(key=_sort_key)
            bad = []
            for d, p in zip(drows, prows):
                if not all(_equal(a, b) for a, b in zip(d, p)):
                    bad.append((d, p))
            if bad:
                examples = "; ".join(
                    "duckdb " + str({c: a for c, a, b in zip(dcols, d, p) if not _equal(a, b)})
                    + " vs postgres " + str({c: b for c, a, b in zip(dcols, d, p) if not _equal(a, b)})
                    + " (row " + str(dict(zip(dcols, d)))[:300] + ")"
                    for d, p in bad[:max_examples])
                diffs.append(f"{name}: {len(bad)} of {len(drows)} sorted rows differ: {examples}")
    finally:
        duck.close()
        pg.close()
    return diffs


if __name__ == "__main__":  # python -m cx_warehouse.engines.compare DUCKDB_FILE  (PG* variables)
    import os
    import sys

    found = compare_marts(sys.argv[1], dict(os.environ))
    print("\n".join(found) if found else "no differences")
    sys.exit(1 if found else 0)
