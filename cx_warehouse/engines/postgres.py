"""Run the warehouse on PostgreSQL: load the CIS exports, and a throw-away
local server for tests and CI.

On DuckDB the exports are read in place (macros/loading/cis_deliveries.sql).
A PostgreSQL server cannot read the files of the machine dbt runs on, so on
PostgreSQL the exports are *loaded* first, the way PostgreSQL users load
files: each delivery is parsed here and streamed into the server with
``COPY ... FROM STDIN`` (psycopg2 ``copy_expert``). Then ``dbt build
--target postgres`` reads the loaded tables.

What the load writes (schema ``cis``):

- ``cis.raw_X`` for each of the 14 exports: every contract column as text,
  plus ``source_delivery`` (the file name) and ``delivery_fingerprint``
  (``size-mtime_ms``, as DuckDB computes it); the dbt sources.
- ``cis.raw_deliveries``: one row per delivery loaded (export, delivery,
  fingerprint, kind, path, row counts): what ``postgres__cis_export_files``
  lists.
- ``cis.raw_malformed_records``: CSV records the parser could not split into
  the header's fields (invalid UTF-8, too few or too many fields, an
  unterminated quote), with delivery, line (the record's number, the header
  being line 1, as DuckDB counts it), reason and raw text; staging turns each
  into a rejected row (``postgres__cis_malformed_records``).
- ``cis.raw_stray_quotes``: text values holding a quote in an unquoted field
  (``Str"ay``), by delivery, key and column (``postgres__cis_stray_quotes``).

CSV is read strictly by each file's own header (docs/contract/cis-exports.md):
quoted commas, doubled quotes, quoted line breaks, CRLF and a byte-order mark
load exactly; columns are taken by name (extra columns are ignored). A NUL
byte (which PostgreSQL text cannot hold) is stored as U+FFFF, which
``postgres__cis_contains_nul`` recognises, so the row is rejected as on DuckDB.
Parquet files are read with the duckdb package, so typed columns become the
text DuckDB's own intake gives them (``cast(... as varchar)``).

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
import functools
import io
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # the server helpers need the standard library only (CI, tests)
    from cx_warehouse.contract import Export

SCHEMA = "cis"
DEFAULT_PORT = 55432
DEFAULT_DATABASE = "cx"
# the test server's database sorts text as a utility's own database usually does
# (American English, ICU), not byte-wise: the models must not depend on it
LINGUISTIC_COLLATION = "en-US"
NUL_SENTINEL = "\uffff"  # stands for a NUL byte (PostgreSQL text cannot hold one)


class LoadError(Exception):
    """A problem with the exports or the server, shown as a message (no traceback)."""


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
                             "postgres", "-tAc", f"select 1 from pg_database where datname = '{database}'"],
                            capture_output=True, text=True)
    if exists.returncode != 0:
        raise LoadError(f"the server did not answer: {exists.stderr.strip()} (log: {log})")
    if exists.stdout.strip() != "1":
        run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
             "-v", "ON_ERROR_STOP=1", "-c", f'create database "{database}" template template0 encoding \'UTF8\' '
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


@dataclass
class Delivery:
    export: str
    path: Path
    delivery: str
    fingerprint: str
    kind: str  # csv | parquet
    rows: list[list[str | None]] = field(default_factory=list)  # contract columns, in contract order
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # line, reason, raw text
    stray: list[tuple[str, str]] = field(default_factory=list)  # key text, column


_QUOTED_BODY = re.compile(r'(?:[^"]|"")*')
_UNQUOTED = re.compile(r"[^,\n]*")
_SPACES = re.compile(r" *")
_BAD_UTF8 = re.compile("[\udc80-\udcff]")


def csv_records(text: str) -> Iterator[tuple[int, list[str], list[bool], str | None, int, int]]:
    """Split CSV text (decoded with errors='surrogateescape', BOM removed) into
    records, as DuckDB's strict reader does: a field opening with a quote runs
    to the closing quote (doubled quotes are one quote, line breaks and commas
    inside are data); spaces around a quoted field are dropped; a quote inside
    an unquoted field is a character. Yields (line, fields, quoted flags,
    problem, start, end): line counts records and blank lines (quoted line
    breaks do not count), the first record being line 1; problem is
    'unterminated quote' for a quote never closed (the record then runs to
    the end of the text) or closed before other text. Blank lines are skipped."""
    n = len(text)
    pos = 0
    line = 0
    while pos < n:
        line += 1
        start = pos
        fields: list[str] = []
        quoted: list[bool] = []
        problem = None
        while True:
            lead = _SPACES.match(text, pos).end()
            if lead < n and text[lead] == '"':
                body = _QUOTED_BODY.match(text, lead + 1)
                if body.end() >= n:  # never closed: the rest of the text is this record
                    problem, pos = "unterminated quote", n
                    fields.append(body.group(0).replace('""', '"'))
                    quoted.append(True)
                    break
                fields.append(body.group(0).replace('""', '"'))
                quoted.append(True)
                pos = _SPACES.match(text, body.end() + 1).end()
                if pos < n and text[pos] == "\r" and text.startswith("\n", pos + 1):
                    pos += 1
                if pos < n and text[pos] not in ",\n":  # text after the closing quote
                    problem = "unterminated quote"
                    pos = _UNQUOTED.match(text, pos).end()
            else:
                m = _UNQUOTED.match(text, pos)
                value = m.group(0)
                pos = m.end()
                if pos < n and value.endswith("\r"):  # CRLF
                    value = value[:-1]
                elif pos >= n and value.endswith("\r"):
                    value = value[:-1]
                fields.append(value)
                quoted.append(False)
            if pos < n and text[pos] == ",":
                pos += 1
                continue
            if pos < n:  # the line break
                pos += 1
            break
        if len(fields) == 1 and not quoted[0] and fields[0] == "" and problem is None:
            continue  # a blank line
        yield line, fields, quoted, problem, start, pos


def _header_names(fields: list[str]) -> list[str]:
    return [f.replace("\ufeff", "").strip().strip('"').strip() for f in fields]


def csv_rows(d: Delivery, export: Export) -> Iterator[list[str | None]]:
    """The rows of a CSV delivery (contract columns in contract order),
    lazily; malformed records and stray quotes are collected into d as the
    rows are read. The file and its header are read at once (errors before
    any row)."""
    data = d.path.read_bytes()
    text = data.decode("utf-8", errors="surrogateescape")
    del data
    if text.startswith("\ufeff"):
        text = text[1:]
    has_bad = _BAD_UTF8.search(text) is not None
    records = csv_records(text)
    try:
        _, header_fields, _, _, _, _ = next(records)
    except StopIteration:
        raise LoadError(f"{d.path}: empty file (no header)") from None
    header = _header_names(header_fields)
    width = len(header)
    names = export.column_names
    index = {h: i for i, h in reversed(list(enumerate(header)))}
    positions = [index.get(c) for c in names]
    text_cols = {c.name for c in export.columns if c.cis_type == "text"}
    pk_pos = [index.get(k) for k in export.primary_key]

    def rows() -> Iterator[list[str | None]]:
        for line, fields, quoted, problem, start, end in records:
            if len(fields) == width + 1 and fields[-1] == "" and not quoted[-1]:
                fields, quoted = fields[:-1], quoted[:-1]  # a trailing delimiter, which DuckDB accepts
            reasons = []
            raw = text[start:end]
            if has_bad and _BAD_UTF8.search(raw):
                reasons.append("invalid UTF-8")
            if problem is None and len(fields) != width:
                reasons.append(f"{width} fields expected, {len(fields)} found")
            if problem:
                reasons.append(problem)
            if reasons:
                shown = raw.strip("\r\n").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                d.malformed.append((line, "; ".join(reasons), shown.replace("\x00", NUL_SENTINEL)))
                continue
            row = [None if p is None else fields[p] for p in positions]
            for p, c in zip(positions, names):
                if p is not None and c in text_cols and not quoted[p] and '"' in fields[p]:
                    key = "|".join(fields[k] if k is not None else "" for k in pk_pos)
                    d.stray.append((key, c))
            yield [None if v is None else v.replace("\x00", NUL_SENTINEL) for v in row]

    return rows()


@functools.lru_cache(maxsize=1)
def _duckdb():
    """One in-memory DuckDB for reading Parquet (a cursor per delivery)."""
    import duckdb

    return duckdb.connect()


def parquet_rows(d: Delivery, export: Export) -> Iterator[list[str | None]]:
    """The rows of a Parquet delivery as text, lazily. Parquet is read with the
    duckdb package (a dependency of the project already; pyarrow is not), so
    that typed columns become exactly the text DuckDB's own intake gives them:
    cast(... as varchar). The schema is read at once (errors before any row)."""
    import duckdb

    from cx_warehouse.contract import sql_literal

    con = _duckdb().cursor()
    try:
        path = sql_literal(d.path)
        present = {r[0] for r in con.execute(f"describe select * from read_parquet({path})").fetchall()}
        select = ", ".join(f'cast("{c}" as varchar)' if c in present else "cast(null as varchar)"
                           for c in export.column_names)
        cur = con.execute(f"select {select} from read_parquet({path})")
    except duckdb.Error as exc:
        con.close()
        raise LoadError(f"{d.path}: cannot be read ({str(exc).strip().splitlines()[0]})") from None

    def rows() -> Iterator[list[str | None]]:
        try:
            while batch := cur.fetchmany(50_000):
                for row in batch:
                    yield [None if v is None else v.replace("\x00", NUL_SENTINEL) for v in row]
        finally:
            con.close()

    return rows()


def delivery_rows(d: Delivery, export: Export) -> Iterator[list[str | None]]:
    try:
        return parquet_rows(d, export) if d.kind == "parquet" else csv_rows(d, export)
    except OSError as exc:
        raise LoadError(f"{d.path}: cannot be read ({exc.strerror or exc})") from None


def new_delivery(export: Export, path: Path, fingerprint: str | None = None) -> Delivery:
    """A delivery to read; its fingerprint is the intake's (contract.fingerprints)."""
    from cx_warehouse.contract import fingerprints

    fingerprint = fingerprint or fingerprints([path])[path]
    return Delivery(export.name, path, path.name, fingerprint, "parquet" if path.suffix == ".parquet" else "csv")


def read_delivery(export: Export, path: Path) -> Delivery:
    """One delivery read whole (rows, malformed records, stray quotes)."""
    d = new_delivery(export, path)
    d.rows = list(delivery_rows(d, export))
    return d


# --------------------------------------------------------------------------
# loading


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    cur.copy_expert(f"copy {table} ({', '.join(_ident(c) for c in columns)}) from stdin with (format csv)",
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
    cur.execute(f"create table {SCHEMA}.{export.name} ({', '.join(_ident(c) + ' text' for c in want)})")
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
        for export in exports:
            results.append(_load_export(con, export, raw_dir, full))
            r = results[-1]
            log(f"{export.name}: {r.new} new deliveries ({r.rows} rows, {r.malformed} malformed records), "
                f"{r.unchanged} already loaded" + (f", {r.removed} removed" if r.removed else ""))
    finally:
        con.close()
    return results


def _load_export(con, export: Export, raw_dir: Path, full: bool) -> ExportResult:
    from cx_warehouse.contract import export_files, fingerprints

    result = ExportResult(export.name)
    table = f"{SCHEMA}.{export.name}"
    files = export_files(raw_dir, export.name)
    try:
        with con.cursor() as cur:
            created = _ensure_table(cur, export)
            cur.execute(f"select source_delivery, delivery_fingerprint from {SCHEMA}.raw_deliveries "
                        f"where export_name = %s", [export.name])
            loaded = dict(cur.fetchall())
            current = {p.name: fp for p, fp in fingerprints(files).items()}
            if full and not created:
                stale = list(loaded)
            else:
                stale = [d for d, fp in loaded.items() if current.get(d) != fp]
            result.removed = len([d for d in stale if d not in current])
            if stale:
                cur.execute(f"delete from {table} where source_delivery = any(%s)", [stale])
                for t in ("raw_deliveries", "raw_malformed_records", "raw_stray_quotes"):
                    cur.execute(f"delete from {SCHEMA}.{t} where export_name = %s and source_delivery = any(%s)",
                                [export.name, stale])
            keep = {d: fp for d, fp in loaded.items() if d not in stale}
            for path in files:
                if keep.get(path.name) == current[path.name]:
                    result.unchanged += 1
                    continue
                d = new_delivery(export, path, current[path.name])
                rows = delivery_rows(d, export)
                loaded_rows = _copy(cur, table, export.column_names + ["source_delivery", "delivery_fingerprint"],
                                    (row + [d.delivery, d.fingerprint] for row in rows))
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
                            f"localtimestamp)", [export.name, d.delivery, d.fingerprint, d.kind, str(path),
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
    try:
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
        return 0
    except LoadError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the server refused a statement, a file vanished, ...
        if args.debug:
            raise
        first = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
