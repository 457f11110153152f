"""`make run ENGINE=postgres|spark`: build the warehouse on another engine
from the same CIS exports and print the scorecard from that engine's marts.

    python -m cx_warehouse.engines run --engine postgres --raw-dir DIR [--full-refresh]
    python -m cx_warehouse.engines run --engine spark    --raw-dir DIR [--full-refresh]

On both the new and re-sent deliveries are first read by DuckDB's intake
(`cx_warehouse.engines.intake`: one set of reading rules on every engine).
PostgreSQL: they are loaded into text tables (`cx_warehouse.engines.postgres
load`, COPY), then `dbt build --target postgres`; the connection comes from
libpq's PG* variables. Spark: they are written to the intake folder Spark
reads (`cx_warehouse.engines.spark load`), then `dbt build --target spark`
(CX_SPARK_DIR holds the local metastore, warehouse and intake folder). DuckDB's publish
step, Great Expectations gate and dashboard are DuckDB-only (docs/engines.md):
on these engines the marts are the dbt build's own tables.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ..pipeline import PROJECT_DIR, dbt_executable

ENGINES = ("postgres", "spark")


class EngineError(Exception):
    """A failure the user can act on (printed without a traceback)."""


def _dbt_build(engine: str, raw_dir: Path, full_refresh: bool) -> None:
    import os

    env = dict(os.environ)
    env.setdefault("DBT_PROFILES_DIR", str(PROJECT_DIR))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
    env["DO_NOT_TRACK"] = "1"
    cmd = [dbt_executable(), "build", "--target", engine, "--vars", json.dumps({"raw_dir": str(raw_dir)})]
    if full_refresh:
        cmd.append("--full-refresh")
    rc = subprocess.call(cmd, cwd=PROJECT_DIR, env=env)
    if rc != 0:
        raise EngineError(f"dbt build --target {engine} failed (exit {rc}); the failing nodes are listed above "
                          f"and in target/run_results.json")


def _scorecard_from_frames(frames: dict[tuple[str, str], object]) -> list[str]:
    """The scorecard over marts copied into an in-memory DuckDB (the same SQL
    as `make run` on DuckDB, so the printed figures are the engine's marts)."""
    import duckdb

    from ..scorecard import format_scorecard, scorecard_rows

    con = duckdb.connect()
    try:
        for (schema, table), frame in frames.items():
            con.execute(f'create schema if not exists "{schema}"')
            con.register("frame", frame)
            con.execute(f'create table "{schema}"."{table}" as select * from frame')
            con.unregister("frame")
        as_of, month, rows = scorecard_rows(con)
    finally:
        con.close()
    # a date read back through pandas is a timestamp at midnight
    return format_scorecard(as_of[:10], month, rows)


def _postgres(raw_dir: Path, full_refresh: bool) -> list[str]:
    import pandas as pd

    from ..scorecard import SCORECARD_INPUTS
    from . import postgres

    try:
        results = postgres.load(raw_dir, full=full_refresh)
    except postgres.LoadError as exc:
        raise EngineError(str(exc)) from None
    except Exception as exc:  # no server, refused login, ...
        raise EngineError(f"PostgreSQL: {' '.join(str(exc).split())} (the connection comes from PGHOST, PGPORT, "
                          f"PGUSER, PGPASSWORD and PGDATABASE; `make pg-start` starts a throw-away local server)"
                          ) from None
    print(f"loaded {sum(r.rows for r in results)} rows of {sum(r.new for r in results)} new deliveries")
    _dbt_build("postgres", raw_dir, full_refresh)
    con = postgres.connect()
    try:
        frames = {}
        for schema, table in SCORECARD_INPUTS:
            with con.cursor() as cur:
                cur.execute(f'select * from "{schema}"."{table}"')
                cols = [d[0] for d in cur.description]
                frames[(schema, table)] = pd.DataFrame(cur.fetchall(), columns=cols)
    finally:
        con.close()
    return _scorecard_from_frames(frames) + ["", "Marts: schema marts of the PG* database (read-only role: "
                                             "var reporting_role, docs/engines.md)"]


def _spark(raw_dir: Path, full_refresh: bool) -> list[str]:
    from ..scorecard import SCORECARD_INPUTS
    from . import spark

    try:
        results = spark.load(raw_dir, full=full_refresh)
    except spark.LoadError as exc:
        raise EngineError(str(exc)) from None
    print(f"read {sum(r['rows'] for r in results.values())} rows of {sum(r['new'] for r in results.values())} "
          f"new deliveries into {spark.intake_dir()}")
    _dbt_build("spark", raw_dir, full_refresh)
    frames = {(schema, table): spark.read_spark_table(schema, table) for schema, table in SCORECARD_INPUTS}
    return _scorecard_from_frames(frames) + ["", f"Marts: Parquet tables under {spark.spark_dir() / 'warehouse'}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cx_warehouse.engines",
                                     description="Build the warehouse on PostgreSQL or Spark.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="load the new deliveries, dbt build on the engine, print the scorecard")
    run.add_argument("--engine", required=True, choices=ENGINES)
    run.add_argument("--raw-dir", required=True, type=Path)
    run.add_argument("--full-refresh", action="store_true")
    args = parser.parse_args(argv)
    raw_dir = args.raw_dir.resolve()
    if not raw_dir.is_dir():
        print(f"ERROR: raw dir {raw_dir} does not exist", file=sys.stderr)
        return 2
    try:
        lines = (_postgres if args.engine == "postgres" else _spark)(raw_dir, args.full_refresh)
    except EngineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
