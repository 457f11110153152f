"""DuckDB's intake, for the engines that do not read the landing folder with it.

One set of reading rules on every engine (docs/engines.md): a delivery is read
by the macros of DuckDB's staging (``duckdb__cis_read_files``,
``_malformed_records``, ``_stray_quotes`` in macros/loading/cis_deliveries.sql),
run by ``dbt run-operation cis_export_for_loading`` on a DuckDB file of the
loader's, into Parquet files:

- ``<out_dir>/<export>.rows.parquet``: the contract columns as text,
  ``source_delivery``, ``delivery_fingerprint``, ordered by delivery;
- ``<export>.malformed.parquet``: CSV records the strict reader could not
  split (line, reason, raw text), when there are any;
- ``<export>.stray.parquet``: text values with a quote in an unquoted field
  (delivery, key, column), when there are any.

The PostgreSQL loader copies them into the server (``engines.postgres``); the
Spark loader keeps them in a folder Spark reads (``engines.spark``). Both
judge what is new the same way (``plan_reads``): a delivery is read again
when its fingerprint (``contract.fingerprints``) differs from the one loaded.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from cx_warehouse.contract import Export


class LoadError(Exception):
    """A problem with the exports, the intake or the engine, shown as a message (no traceback)."""


def command_exit(action: Callable[[], None], debug: bool = False) -> int:
    """Run a loader's command line action: 0 when it ends, 2 on a LoadError
    (its message), 1 on anything else (the error's type and first words);
    no traceback unless `debug`."""
    import sys

    try:
        action()
        return 0
    except LoadError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the server refused a statement, a file vanished, the disk is full, ...
        if debug:
            raise
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 1


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


def new_delivery(export: Export, path: Path, fingerprint: str | None = None) -> Delivery:
    """A delivery to read; its fingerprint is the intake's (contract.fingerprints)."""
    from cx_warehouse.contract import fingerprints

    fingerprint = fingerprint or fingerprints([path])[path]
    return Delivery(export.name, path, path.name, fingerprint, "parquet" if path.suffix == ".parquet" else "csv")


def plan_reads(export: Export, raw_dir: Path, loaded: dict[str, str], full: bool) -> dict:
    """Which deliveries of one export to read, against `loaded` ({delivery:
    fingerprint} already loaded): `read` the new and re-sent ones (all of them
    on `full`), `stale` the loaded ones to drop (re-sent, gone, or all on
    `full`), `unchanged` and `removed` counts for the log."""
    from cx_warehouse.contract import export_files, fingerprints

    files = export_files(raw_dir, export.name)
    current = {p.name: fp for p, fp in fingerprints(files).items()}
    stale = list(loaded) if full else [d for d, fp in loaded.items() if current.get(d) != fp]
    keep = {d: fp for d, fp in loaded.items() if d not in stale}
    read = [new_delivery(export, p, current[p.name]) for p in files if keep.get(p.name) != current[p.name]]
    return {"stale": stale, "read": read, "unchanged": len(files) - len(read),
            "removed": len([d for d in stale if d not in current])}


def read_with_duckdb(deliveries: list[Delivery], out_dir: Path, name: str) -> None:
    """Read the deliveries with DuckDB's intake into out_dir (the module's
    docstring). `name`: the folder under dbt's target path that keeps this
    loader's own dbt artefacts and log, so its parse is reused from load to
    load and no other dbt run's is touched."""
    from cx_warehouse.pipeline import dbt_invocation, dbt_target_dir

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cx-intake-") as work:
        listing = Path(work) / "deliveries.jsonl"
        listing.write_text("".join(json.dumps({"export": d.export, "path": str(d.path), "delivery": d.delivery,
                                               "fingerprint": d.fingerprint, "kind": d.kind}) + "\n"
                                   for d in deliveries), encoding="utf-8")
        call = dbt_invocation(["run-operation", "cis_export_for_loading", "--args",
                               json.dumps({"deliveries_file": str(listing), "out_dir": str(out_dir)})],
                              Path(work) / "intake.duckdb")
        own = dbt_target_dir() / name
        call["env"].update({"DBT_TARGET_PATH": str(own), "DBT_LOG_PATH": str(own)})
        proc = subprocess.run(call["args"], cwd=call["cwd"], env=call["env"], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        raise LoadError("reading the deliveries with DuckDB's intake failed (dbt run-operation "
                        f"cis_export_for_loading, exit {proc.returncode}): " + " | ".join(lines[-5:]))


def parquet_rows(path: Path, sql: str, params: list) -> Iterator[tuple]:
    """Rows of a Parquet file the intake wrote (none when it wrote none), a
    batch at a time; `sql` names the file as {file}, its parameters from $2."""
    import duckdb

    if not path.is_file():
        return
    con = duckdb.connect()
    try:
        cur = con.execute(sql.replace("{file}", "read_parquet($1)"), [str(path), *params])
        while batch := cur.fetchmany(50_000):
            yield from batch
    finally:
        con.close()
