"""Publish: copy what BI reads from the working state into a new file and
rename it over the published one; and the lock that keeps runs on one
warehouse from overlapping (docs/publishing.md)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .contract import ContractError, sql_literal

# What BI reads: the marts (metric marts and dq_* tables) and the reference seeds (targets).
PUBLISHED_SCHEMAS = ("marts", "reference")
HEALTH_TABLES = ("dq_test_results", "dq_test_run_summary")
# columns of the working state that are not published: the stamp an incremental
# model keeps on every row (docs/incremental.md)
BOOKKEEPING_COLUMNS = {"loaded_at"}


class RunInProgress(ContractError):
    """Another run holds the warehouse's lock."""


class RunLock:
    """An exclusive lock on ``<published>.lock`` holding the holder's pid.

    flock is released by the kernel when its holder dies (even on kill -9), so a
    lock file left behind by a killed run is stale by construction and the next
    run takes it over.
    """

    def __init__(self, published: Path):
        self.path = published.with_name(published.name + ".lock")
        self.fh = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise RunInProgress(f"another run is in progress on {self.path.with_suffix('')} "
                                f"(pid {holder}); try again when it has finished")
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self.fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self.fh:
            self.fh.truncate(0)
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()


def _published_objects(con, db: str) -> list[tuple[str, str]]:
    """(schema, table or view) of everything published, in a fixed order."""
    return [tuple(r) for r in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = $1 "
        "union select schema_name, view_name from duckdb_views() where database_name = $1 and not internal "
        "order by 1, 2", [db]).fetchall() if r[0] in PUBLISHED_SCHEMAS]


def publish(state: Path, published: Path, health_only: bool = False) -> None:
    """Copy schema marts of the state into a new file and rename it over the
    published one. health_only: keep the published marts, refresh only the
    data-health tables (a failed run's test results)."""
    import duckdb

    tmp = published.with_name(f"{published.name}.publishing-{os.getpid()}")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    old_exists = published.exists()
    if health_only and not old_exists:
        return
    # Views in the state name their own catalog (the state file's name), so the
    # state is attached under that name for them to resolve.
    probe = duckdb.connect(str(state), read_only=True)
    try:
        state_db = probe.execute("select current_database()").fetchone()[0]
    finally:
        probe.close()
    con = duckdb.connect()
    try:
        con.execute(f"attach {sql_literal(state)} as \"{state_db}\" (read_only)")
        con.execute(f"attach {sql_literal(tmp)} as pub_db")
        if old_exists:
            con.execute(f"attach {sql_literal(published)} as old_db (read_only)")
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema pub_db.{schema}")
        src_tables = _published_objects(con, state_db)
        if health_only:
            keep = [t for t in _published_objects(con, "old_db") if t[1] not in HEALTH_TABLES]
            sources = [("old_db", t) for t in keep] + [(state_db, t) for t in src_tables if t[1] in HEALTH_TABLES]
        else:
            sources = [(state_db, t) for t in src_tables]
        for db, (schema, t) in sources:
            columns = {r[0] for r in con.execute(
                "select column_name from duckdb_columns() where database_name = $1 and schema_name = $2 "
                "and table_name = $3", [db, schema, t]).fetchall()}
            # an incremental mart's stamp is the working state's bookkeeping, not a published column
            kept = "* exclude (" + ", ".join(sorted(BOOKKEEPING_COLUMNS & columns)) + ")" \
                if BOOKKEEPING_COLUMNS & columns else "*"
            con.execute(f'create table pub_db.{schema}."{t}" as select {kept} from "{db}".{schema}."{t}"')
        con.execute("checkpoint pub_db")
    finally:
        con.close()
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    os.replace(tmp, published)
    Path(str(published) + ".wal").unlink(missing_ok=True)


def clean_stale_publish_files(published: Path) -> None:
    """Half-written publish files of runs that were killed (we hold the lock)."""
    for p in published.parent.glob(published.name + ".publishing-*"):
        p.unlink(missing_ok=True)
