"""Run the warehouse on PostgreSQL: load the CIS exports, and a throw-away
local server for tests and CI.

On DuckDB the exports are read in place (macros/loading/cis_deliveries.sql).
A PostgreSQL server cannot read the files of the machine dbt runs on, so on
PostgreSQL the exports are *loaded* first, the way PostgreSQL users load
files: the deliveries are read by DuckDB's own intake (``dbt run-operation
cis_export_for_loading`` on a DuckDB file of the loader's: the readers DuckDB's
staging uses) into Parquet files, which are streamed into the server with
``COPY ... FROM STDIN`` (psycopg2 ``copy_expert``). Then ``dbt build
--target postgres`` reads the loaded tables. One set of reading rules on
every engine: nothing of DuckDB's CSV reader is re-implemented here.

What the load writes (schema ``cis``):

- ``cis.raw_X`` for each of the 14 exports: every contract column as text,
  plus ``source_delivery`` (the file name) and ``delivery_fingerprint``
  (``size-mtime_ms``, as DuckDB computes it); the dbt sources.
- ``cis.raw_deliveries``: one row per delivery loaded (export, delivery,
  fingerprint, kind, path, row counts): what ``default__cis_export_files``
  lists.
- ``cis.raw_malformed_records``: CSV records the parser could not split into
  the header's fields (invalid UTF-8, too few or too many fields, an
  unterminated quote), with delivery, line (the record's number, the header
  being line 1, as DuckDB counts it), reason and raw text; staging turns each
  into a rejected row (``default__cis_malformed_records``, macros/loading/cis_loaded_exports.sql).
- ``cis.raw_stray_quotes``: text values holding a quote in an unquoted field
  (``Str"ay``), by delivery, key and column (``default__cis_stray_quotes``).

What the intake reads (docs/contract/cis-exports.md): CSV strictly by each
file's own header (quoted commas, doubled quotes, quoted line breaks, CRLF
and a byte-order mark load exactly; columns taken by name, extra ones
ignored), malformed records with DuckDB's lines and reasons, stray quotes,
Parquet cast to text (``cast(... as varchar)``). A NUL byte (which
PostgreSQL text cannot hold) is stored as U+FFFF, which
``postgres__cis_contains_nul`` recognises, so the row is rejected as on DuckDB.

Loading is incremental by delivery: a delivery already loaded with the same
fingerprint is skipped, a re-sent one (new size or modification time) is
replaced, one no longer in the landing folder is removed; ``--full`` reloads
everything. Each export is loaded in one transaction.

Command line::

    python -m cx_warehouse.engines.postgres load --raw-dir DIR [--full]
    python -m cx_warehouse.engines.postgres start --dir DIR [--port N]   # prints export lines
    python -m cx_warehouse.engines.postgres stop --dir DIR

The connection comes from libpq's environment variables (PGHOST, PGPORT,
PGUSER, PGPASSWORD, PGDATABASE), as for psql and the dbt profile.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .intake import Delivery, LoadError, command_exit, new_delivery, parquet_rows, plan_reads, read_with_duckdb


def _sql_ident(name: str) -> str:
    from cx_warehouse.contract import sql_ident

    return sql_ident(name)


if TYPE_CHECKING:  # the server helpers need the standard library only (CI, tests)
    from cx_warehouse.contract import Export

SCHEMA = "cis"
DEFAULT_PORT = 55432
DEFAULT_DATABASE = "cx"
# the test server's database sorts text as a utility's own database usually does
# (American English, ICU), not byte-wise: the models must not depend on it
LINGUISTIC_COLLATION = "en-US"
NUL_SENTINEL = "\uffff"  # stands for a NUL byte (PostgreSQL text cannot hold one)


# --------------------------------------------------------------------------
# a throw-away local server


def find_bindir() -> Path:
    """The directory of initdb / pg_ctl: $PG_BINDIR, the newest
    /usr/lib/postgresql/*/bin, or the one pg_config names."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    candidates += debian
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            candidates.append(Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                                  check=True).stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    raise LoadError("PostgreSQL server binaries (initdb, pg_ctl) not found: set PG_BINDIR "
                    "or install the postgresql package")


def _free_port(start: int) -> int:
    for port in range(start, start + 100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise LoadError(f"no free TCP port in {start}..{start + 99}")


def _as_server_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as user postgres."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def server_env(base_dir: Path) -> dict[str, str]:
    """The libpq variables of the server started in base_dir."""
    return json.loads((Path(base_dir) / "env.json").read_text())


def start_server(base_dir: Path | str | None = None, port: int | None = None,
                 database: str = DEFAULT_DATABASE) -> dict[str, str]:
    """Start a throw-away PostgreSQL server (data, socket and log under
    base_dir, a new temporary folder by default) listening on 127.0.0.1, with
    trust authentication, superuser `postgres` and a database `database`
    whose text sorts linguistically (ICU, LINGUISTIC_COLLATION), as a
    utility's own database usually does: the models do not depend on the
    database's collation (cx_bytewise). Returns the libpq
    environment variables to reach it (PGHOST, PGPORT, PGUSER, PGPASSWORD,
    PGDATABASE, plus CX_PG_DIR: the folder stop_server removes).
    Works as root (the server runs as user postgres via runuser) and as a
    non-root user (the server runs as that user)."""
    from cx_warehouse.contract import sql_ident, sql_literal

    bindir = find_bindir()
    base = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="cx_pg_"))
    base.mkdir(parents=True, exist_ok=True)
    base = base.resolve()
    port = port or _free_port(DEFAULT_PORT)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root:
        shutil.chown(base, user="postgres")
        if subprocess.run(_as_server_user(["test", "-w", str(base)])).returncode != 0:
            raise LoadError(f"{base}: user postgres cannot write here (a parent folder is private?); "
                            f"choose a folder postgres can reach, e.g. under /tmp")
    data, log = base / "data", base / "server.log"

    def run(cmd: list[str], what: str) -> None:
        proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise LoadError(f"{what} failed: " + " | ".join(tail))

    if not (data / "PG_VERSION").exists():
        run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
             "--locale=C", "--no-sync"], "initdb")
    run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
         f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
         f"-c full_page_writes=off", "start"], f"pg_ctl start (log: {log})")
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "postgres", "PGPASSWORD": "",
           "PGDATABASE": database, "CX_PG_DIR": str(base)}
    exists = subprocess.run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                             "postgres", "-tAc", f"select 1 from pg_database where datname = {sql_literal(database)}"],
                            capture_output=True, text=True)
    if exists.returncode != 0:
        raise LoadError(f"the server did not answer: {exists.stderr.strip()} (log: {log})")
    if exists.stdout.strip() != "1":
        run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
             "-v", "ON_ERROR_STOP=1", "-c", f"create database {sql_ident(database)} template template0 encoding 'UTF8' "
             f"locale_provider icu icu_locale '{LINGUISTIC_COLLATION}'"], "create database")
    (base / "env.json").write_text(json.dumps(env))
    if root:
        shutil.chown(base / "env.json", user="postgres")
    return env


def stop_server(base_dir: Path | str, remove: bool = True) -> None:
    """Stop the server started in base_dir and (by default) delete the folder."""
    base = Path(base_dir)
    if (base / "data" / "postmaster.pid").exists():
        subprocess.run(_as_server_user([str(find_bindir() / "pg_ctl"), "-D", str(base / "data"), "-m", "fast",
                                        "-w", "stop"]), capture_output=True, text=True)
    if remove:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def throwaway_server(port: int | None = None) -> Iterator[dict[str, str]]:
    """`with throwaway_server() as env:` a server for the block, then removed."""
    env = start_server(port=port)
    try:
        yield env
    finally:
        stop_server(env["CX_PG_DIR"])


# --------------------------------------------------------------------------
# reading a delivery


def _text(v):
    return None if v is None else str(v).replace("\x00", NUL_SENTINEL)


def delivery_rows(out_dir: Path, export: Export, d: Delivery) -> Iterator[list[str | None]]:
    """The rows of one delivery as the intake read them (contract columns in contract order)."""
    cols = ", ".join(_sql_ident(c) for c in export.column_names)
    for row in parquet_rows(out_dir / f"{export.name}.rows.parquet", f"select {cols} from {{file}} where source_delivery = $2",
                        [d.delivery]):
        yield [_text(v) for v in row]


def read_extras(out_dir: Path, export: Export, d: Delivery) -> None:
    """The delivery's malformed records and stray quotes, into d."""
    d.malformed = [(line, reason, _text(raw)) for line, reason, raw in parquet_rows(
        out_dir / f"{export.name}.malformed.parquet",
        "select source_line, reason, raw_text from {file} where source_delivery = $2 order by source_line", [d.delivery])]
    d.stray = [tuple(r) for r in parquet_rows(
        out_dir / f"{export.name}.stray.parquet",
        "select key_text, column_name from {file} where source_delivery = $2 order by 1, 2", [d.delivery])]


def read_deliveries(items: list[tuple[Export, Path]]) -> list[Delivery]:
    """Deliveries read whole (rows, malformed records, stray quotes), in one
    run of the intake, as the loader reads them."""
    deliveries = [(export, new_delivery(export, path)) for export, path in items]
    with tempfile.TemporaryDirectory(prefix="cx-pg-intake-") as tmp:
        read_with_duckdb([d for _, d in deliveries], Path(tmp), "postgres_intake")
        for export, d in deliveries:
            d.rows = list(delivery_rows(Path(tmp), export, d))
            read_extras(Path(tmp), export, d)
    return [d for _, d in deliveries]


# --------------------------------------------------------------------------
# loading


BOOKKEEPING_DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.raw_deliveries (
    export_name text not null,
    source_delivery text not null,
    delivery_fingerprint text not null,
    file_kind text not null,
    source_path text not null,
    data_rows bigint not null,
    malformed_rows bigint not null,
    loaded_at timestamp not null,
    primary key (export_name, source_delivery)
);
create table if not exists {SCHEMA}.raw_malformed_records (
    export_name text not null,
    source_delivery text not null,
    delivery_fingerprint text not null,
    source_line integer not null,
    reason text not null,
    raw_text text
);
create table if not exists {SCHEMA}.raw_stray_quotes (
    export_name text not null,
    source_delivery text not null,
    delivery_fingerprint text not null,
    key_text text,
    column_name text not null
);
"""


def connect(env: dict[str, str] | None = None):
    """A psycopg2 connection from the libpq variables (env overrides os.environ)."""
    import psycopg2

    if env:
        params = {"host": env.get("PGHOST"), "port": env.get("PGPORT"), "user": env.get("PGUSER"),
                  "password": env.get("PGPASSWORD") or None, "dbname": env.get("PGDATABASE")}
        params = {k: v for k, v in params.items() if v}
    else:
        params = {}
    try:
        return psycopg2.connect(**params)
    except psycopg2.OperationalError as exc:
        raise LoadError("cannot connect to PostgreSQL: " + " ".join(str(exc).split())) from None


class _CsvStream:
    """A file-like object for copy_expert: rows written as CSV a chunk at a
    time, so a delivery is never held twice (as rows and as CSV text)."""

    def __init__(self, rows):
        self._rows = iter(rows)
        self.count = 0

    def read(self, size: int = -1) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        while size < 0 or buf.tell() < size:
            chunk = list(itertools.islice(self._rows, 2000))
            if not chunk:
                break
            writer.writerows(chunk)
            self.count += len(chunk)
        return buf.getvalue()

    readline = read


def _copy(cur, table: str, columns: list[str], rows) -> int:
    stream = _CsvStream(rows)
    cur.copy_expert(f"copy {table} ({', '.join(_sql_ident(c) for c in columns)}) from stdin with (format csv)",
                    stream, size=1 << 20)
    return stream.count


def _ensure_table(cur, export: Export) -> bool:
    """(Re)create cis.raw_X when missing or of other columns; True when (re)created."""
    want = export.column_names + ["source_delivery", "delivery_fingerprint"]
    cur.execute("select column_name from information_schema.columns where table_schema = %s and table_name = %s "
                "order by ordinal_position", [SCHEMA, export.name])
    have = [r[0] for r in cur.fetchall()]
    if have == want:
        return False
    cur.execute(f"drop table if exists {SCHEMA}.{export.name} cascade")
    cur.execute(f"create table {SCHEMA}.{export.name} ({', '.join(_sql_ident(c) + ' text' for c in want)})")
    cur.execute(f"create index on {SCHEMA}.{export.name} (source_delivery)")
    cur.execute(f"delete from {SCHEMA}.raw_deliveries where export_name = %s", [export.name])
    for t in ("raw_malformed_records", "raw_stray_quotes"):
        cur.execute(f"delete from {SCHEMA}.{t} where export_name = %s", [export.name])
    return True


@dataclass
class ExportResult:
    export: str
    new: int = 0
    unchanged: int = 0
    removed: int = 0
    rows: int = 0
    malformed: int = 0


def load(raw_dir: Path | str, env: dict[str, str] | None = None, full: bool = False,
         log=print) -> list[ExportResult]:
    """Load every CIS export under raw_dir into schema cis (see the module's
    docstring). Raises LoadError with one line per problem for file-level
    faults (the same preflight as the DuckDB run) and connection failures."""
    from cx_warehouse.contract import load_contract, preflight

    raw_dir = Path(raw_dir).resolve()
    exports = load_contract()
    problems = preflight(raw_dir, exports)
    if problems:
        raise LoadError("\n".join(problems))
    con = connect(env)
    results = []
    try:
        with con.cursor() as cur:  # one load at a time per database (released when the connection closes)
            cur.execute("select pg_try_advisory_lock(hashtext('cx_warehouse.engines.postgres.load'))")
            if not cur.fetchone()[0]:
                raise LoadError("another load into this database is in progress")
            cur.execute(BOOKKEEPING_DDL)
        con.commit()
        # which deliveries each export needs (new, re-sent, or all on --full), then one
        # read of them all by DuckDB's intake, then one transaction per export
        plans = [_plan_export(con, export, raw_dir, full) for export in exports]
        with tempfile.TemporaryDirectory(prefix="cx-pg-intake-") as tmp:
            to_read = [d for plan in plans for d in plan["read"]]
            if to_read:
                read_with_duckdb(to_read, Path(tmp), "postgres_intake")
            for export, plan in zip(exports, plans):
                results.append(_load_export(con, export, plan, Path(tmp)))
                r = results[-1]
                log(f"{export.name}: {r.new} new deliveries ({r.rows} rows, {r.malformed} malformed records), "
                    f"{r.unchanged} already loaded" + (f", {r.removed} removed" if r.removed else ""))
    finally:
        con.close()
    return results


def _plan_export(con, export: Export, raw_dir: Path, full: bool) -> dict:
    """The deliveries of one export to drop and to read (intake.plan_reads),
    against what cis.raw_deliveries says is loaded."""
    try:
        with con.cursor() as cur:
            created = _ensure_table(cur, export)
            cur.execute(f"select source_delivery, delivery_fingerprint from {SCHEMA}.raw_deliveries "
                        f"where export_name = %s", [export.name])
            loaded = dict(cur.fetchall())
        con.commit()
    except Exception:
        con.rollback()
        raise
    return plan_reads(export, raw_dir, loaded, full and not created)


def _load_export(con, export: Export, plan: dict, out_dir: Path) -> ExportResult:
    result = ExportResult(export.name, unchanged=plan["unchanged"], removed=plan["removed"])
    table = f"{SCHEMA}.{export.name}"
    try:
        with con.cursor() as cur:
            if plan["stale"]:
                cur.execute(f"delete from {table} where source_delivery = any(%s)", [plan["stale"]])
                for t in ("raw_deliveries", "raw_malformed_records", "raw_stray_quotes"):
                    cur.execute(f"delete from {SCHEMA}.{t} where export_name = %s and source_delivery = any(%s)",
                                [export.name, plan["stale"]])
            for d in plan["read"]:
                loaded_rows = _copy(cur, table, export.column_names + ["source_delivery", "delivery_fingerprint"],
                                    (row + [d.delivery, d.fingerprint] for row in delivery_rows(out_dir, export, d)))
                read_extras(out_dir, export, d)
                if d.malformed:
                    _copy(cur, f"{SCHEMA}.raw_malformed_records",
                          ["export_name", "source_delivery", "delivery_fingerprint", "source_line", "reason",
                           "raw_text"],
                          ([export.name, d.delivery, d.fingerprint, line, reason, raw]
                           for line, reason, raw in d.malformed))
                if d.stray:
                    _copy(cur, f"{SCHEMA}.raw_stray_quotes",
                          ["export_name", "source_delivery", "delivery_fingerprint", "key_text", "column_name"],
                          ([export.name, d.delivery, d.fingerprint, key, col] for key, col in d.stray))
                cur.execute(f"insert into {SCHEMA}.raw_deliveries values (%s, %s, %s, %s, %s, %s, %s, "
                            f"localtimestamp)", [export.name, d.delivery, d.fingerprint, d.kind, str(d.path),
                                                 loaded_rows, len(d.malformed)])
                result.new += 1
                result.rows += loaded_rows
                result.malformed += len(d.malformed)
            cur.execute(f"analyze {table}")
        con.commit()
    except Exception:
        con.rollback()
        raise
    return result


# --------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cx_warehouse.engines.postgres",
                                     description="Load the CIS exports into PostgreSQL; start/stop a throw-away "
                                                 "local server.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    p_load = sub.add_parser("load", help="load the exports under --raw-dir into schema cis (PG* env vars)")
    p_load.add_argument("--raw-dir", required=True, type=Path)
    p_load.add_argument("--full", action="store_true", help="reload every delivery")
    p_start = sub.add_parser("start", help="start a throw-away server; prints `export PG...=...` lines")
    p_start.add_argument("--dir", required=True, type=Path)
    p_start.add_argument("--port", type=int, default=None)
    p_stop = sub.add_parser("stop", help="stop the throw-away server and remove its folder")
    p_stop.add_argument("--dir", required=True, type=Path)
    p_stop.add_argument("--keep", action="store_true", help="keep the folder")
    args = parser.parse_args(argv)

    def run() -> None:
        if args.command == "load":
            started = time.monotonic()
            results = load(args.raw_dir, full=args.full)
            print(f"loaded {sum(r.rows for r in results)} rows of {sum(r.new for r in results)} new deliveries "
                  f"in {time.monotonic() - started:.1f} s")
        elif args.command == "start":
            env = start_server(args.dir, args.port)
            for k, v in env.items():
                print(f"export {k}={v}")
        elif args.command == "stop":
            stop_server(args.dir, remove=not args.keep)

    return command_exit(run, args.debug)


if __name__ == "__main__":
    sys.exit(main())
