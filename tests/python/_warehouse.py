"""Helpers shared by the end-to-end tests: run the CLI, read a warehouse,
compare two published warehouses mart by mart."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

PROJECT = Path(__file__).resolve().parents[2]


# the working state of a `cx.duckdb` warehouse, the file most of the suite's dbt
# runs write: a run started beside a file of this name (pipeline.dbt_invocation)
# has the same profile as they do, so it starts from their parse (DECISIONLOG 135)
SHARED_PARSE_NAME = "cx.state.duckdb"


def dbt_target_for(db_name: str) -> Path:
    """This worker's dbt target folder for runs into a warehouse file named
    `db_name`. dbt parses the whole project again when the profile (the
    file's name) differs from its saved parse (DECISIONLOG 106); the suite's
    runs share a parse whatever settings they pass (DECISIONLOG 135), so each
    file name keeps one folder, and its parse, for the session."""
    key = hashlib.sha1(db_name.encode()).hexdigest()[:10]
    return Path(os.environ.get("DBT_TARGET_PATH", PROJECT / "target")).with_name(f"target-{key}")


def run_cli(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """`python -m cx_warehouse <args>`, its dbt in the target folder of its
    warehouse file's name (dbt_target_for)."""
    opt = {a: b for a, b in zip(args, args[1:]) if a == "--duckdb"}
    env = dict(os.environ)
    if "--duckdb" in opt:
        env["DBT_TARGET_PATH"] = str(dbt_target_for(Path(opt["--duckdb"]).name))
    return subprocess.run([sys.executable, "-m", "cx_warehouse", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def query(db: Path, sql: str, params=None) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def published_tables(db: Path) -> list[str]:
    return list(query(db, "select table_name from duckdb_tables() where schema_name = 'marts' order by 1").table_name)


def mart_differences(a: Path, b: Path, skip=("dq_test_results", "dq_test_run_summary")) -> dict[str, int]:
    """Rows in one published mart and not in the other (both ways), per mart of `a`. Either side
    may be a dbt build's warehouse rather than a published file: an incremental mart's stamp
    (BOOKKEEPING_COLUMNS, which the publish leaves out) is not compared."""
    from cx_warehouse.publish import BOOKKEEPING_COLUMNS

    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        out = {}
        for t in published_tables(a):
            if t in skip:
                continue
            columns = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where database_name = 'a' and schema_name = 'marts' "
                "and table_name = ? order by column_index", [t]).fetchall() if r[0] not in BOOKKEEPING_COLUMNS]
            cols = ", ".join(f'"{c}"' for c in columns)
            n = con.execute(f"select count(*) from (select {cols} from a.marts.{t} except all select {cols} from b.marts.{t})"
                            f" union all select count(*) from (select {cols} from b.marts.{t} except all "
                            f"select {cols} from a.marts.{t})").fetchall()
            out[t] = n[0][0] + n[1][0]
        return out
    finally:
        con.close()
