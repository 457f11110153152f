"""Publish: write what BI reads and what changed from the working state into
a copy of the published file and rename it over the published one; and the
lock that keeps runs on one warehouse from overlapping (docs/publishing.md,
"What a publish writes")."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

from .contract import ContractError, sql_ident, sql_literal

# What BI reads: the marts (metric marts and dq_* tables) and the reference seeds (targets).
PUBLISHED_SCHEMAS = ("marts", "reference")
HEALTH_TABLES = ("dq_test_results", "dq_test_run_summary")
# columns of the working state that are not published: the stamp an incremental
# model keeps on every row (docs/incremental.md)
BOOKKEEPING_COLUMNS = {"loaded_at"}
# the publish log in the published file: per mart, what the last publish saw
# and did (docs/publishing.md)
LOG_SCHEMA, LOG_TABLE = "publish_log", "published_marts"


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


def manifest_keys(manifest: Path | None) -> dict[str, list[str]]:
    """The key of each incremental model, from dbt's manifest: its `unique_key`,
    else the columns of its `unique` or `unique_combination_of_columns` data
    test (a mart appended by delivery, such as dq_rejected_rows). By it a
    published mart's changed rows replace the old ones. Without a manifest
    there are no keys, and a changed mart is copied whole."""
    try:
        nodes = json.loads(Path(manifest).read_text())["nodes"] if manifest else {}
    except (OSError, ValueError, KeyError):
        return {}
    incremental = {uid: n for uid, n in nodes.items()
                   if n.get("resource_type") == "model" and (n.get("config") or {}).get("materialized") == "incremental"}
    keys: dict[str, list[str]] = {}
    for node in incremental.values():
        key = node["config"].get("unique_key")
        if key:
            keys[node["name"]] = [key] if isinstance(key, str) else list(key)
    for test in nodes.values():
        model = incremental.get(test.get("attached_node") or "")
        meta = test.get("test_metadata") or {}
        if test.get("resource_type") != "test" or model is None or model["name"] in keys:
            continue
        if meta.get("name") == "unique" and test.get("column_name"):
            keys[model["name"]] = [test["column_name"]]
        elif meta.get("name") == "unique_combination_of_columns" and (meta.get("kwargs") or {}).get("combination"):
            keys[model["name"]] = list(meta["kwargs"]["combination"])
    return keys


class _Mart:
    """One published object: its columns in the state and the published copy,
    and the SQL that reads it from the state without the bookkeeping."""

    def __init__(self, con, state_db: str, schema: str, name: str):
        self.schema, self.name = schema, name
        self.src = f"{sql_ident(state_db)}.{schema}.{sql_ident(name)}"
        self.dst = f"pub_db.{schema}.{sql_ident(name)}"
        cols = self._columns(con, state_db)
        self.stamped = "loaded_at" in {c for c, _ in cols}
        self.columns = [(c, t) for c, t in cols if c not in BOOKKEEPING_COLUMNS]
        self.published_columns = self._columns(con, "pub_db")
        self.select = ", ".join(sql_ident(c) for c, _ in self.columns)

    def _columns(self, con, db: str) -> list[tuple[str, str]]:
        return [tuple(r) for r in con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = $1 and schema_name = $2 "
            "and table_name = $3 order by column_index", [db, self.schema, self.name]).fetchall()]


def _copy_whole(con, m: _Mart) -> None:
    con.execute(f"drop table if exists {m.dst}")
    con.execute(f"drop view if exists {m.dst}")
    con.execute(f"create table {m.dst} as select {m.select} from {m.src}")


def _patch(con, m: _Mart, key: list[str], watermark, changed: int) -> int | None:
    """Replace the published rows of the keys written since the watermark, drop
    the keys the state no longer holds; the rows deleted, or None when the
    published copy does not end equal in size to the state (then it is copied whole)."""
    keys = ", ".join(sql_ident(k) for k in key)
    since = f"select {keys} from {m.src} where loaded_at > $1"
    deleted = 0
    if changed:
        deleted += con.execute(f"delete from {m.dst} where ({keys}) in ({since})", [watermark]).fetchone()[0]
        con.execute(f"insert into {m.dst} ({m.select}) select {m.select} from {m.src} where loaded_at > $1",
                    [watermark])
    target = con.execute(f"select count(*) from {m.src}").fetchone()[0]
    if con.execute(f"select count(*) from {m.dst}").fetchone()[0] != target:
        # keys the state retired since the last publish (rare: a delete leaves no stamp)
        deleted += con.execute(f"delete from {m.dst} where ({keys}) not in (select {keys} from {m.src})").fetchone()[0]
        if con.execute(f"select count(*) from {m.dst}").fetchone()[0] != target:
            return None
    return deleted


def _judge(con, m: _Mart, logged: tuple | None) -> tuple:
    """Whether the published copy of a mart still holds the state's rows, by the
    publish log's entry: (kept, rows, checksum, newest stamp, rows stamped since
    the logged stamp). An incremental mart: every row its model writes carries
    the run's stamp and a delete changes the count, so (count, newest stamp)
    tells a change. Any other: (count, checksum of the rows)."""
    rows, checksum, watermark, _ = logged or (None, None, None, None)
    if m.stamped:
        now_rows, now_mark, changed = con.execute(
            f"select count(*), max(loaded_at), count(*) filter (where loaded_at > $1) from {m.src}",
            [watermark]).fetchone()
        now_sum = None
        same = watermark is not None and watermark == now_mark
    else:
        now_rows, now_sum = con.execute(f"select count(*), coalesce(sum(hash({m.select})), 0) from {m.src}").fetchone()
        now_mark, changed = None, None
        same = checksum == now_sum
    kept = same and rows == now_rows and m.published_columns == m.columns
    return kept, now_rows, now_sum, now_mark, changed


def _attach(con, state: Path) -> str:
    """Attach the state read-only under its own catalog name (its views name
    it, so they resolve); returns that name."""
    import duckdb

    probe = duckdb.connect(str(state), read_only=True)
    try:
        state_db = probe.execute("select current_database()").fetchone()[0]
    finally:
        probe.close()
    con.execute(f"attach {sql_literal(state)} as {sql_ident(state_db)} (read_only)")
    return state_db


def _read_log(con) -> dict[tuple[str, str], tuple]:
    return {(r[0], r[1]): r[2:] for r in con.execute(
        f"select schema_name, table_name, row_count, checksum, watermark, deleted_since_copy "
        f"from pub_db.{LOG_SCHEMA}.{LOG_TABLE}").fetchall()}


def changed_since_publish(state: Path, published: Path) -> dict[str, str | None]:
    """The marts of the state whose rows are not the ones last published, each
    with the SQL condition selecting its rows written since (an incremental mart
    with a logged stamp: `loaded_at > ...`), or None for the whole mart. What
    the gate checks on a scheduled run (docs/data-quality.md); read only."""
    import duckdb

    con = duckdb.connect()
    try:
        state_db = _attach(con, state)
        objects = _published_objects(con, state_db)
        log: dict = {}
        if published.exists():
            con.execute(f"attach {sql_literal(published)} as pub_db (read_only)")
            if con.execute("select count(*) from duckdb_tables() where database_name = 'pub_db' "
                           "and schema_name = $1 and table_name = $2", [LOG_SCHEMA, LOG_TABLE]).fetchone()[0]:
                log = _read_log(con)
        else:
            con.execute("attach ':memory:' as pub_db")
        out: dict[str, str | None] = {}
        for schema, name in objects:
            m = _Mart(con, state_db, schema, name)
            kept, *_ = _judge(con, m, log.get((schema, name)))
            if not kept:
                watermark = (log.get((schema, name)) or (None, None, None, None))[2]
                out[name] = f"loaded_at > timestamp '{watermark}'" if m.stamped and watermark is not None else None
        return out
    finally:
        con.close()


# A patched mart keeps the blocks of the rows it replaced until the table is
# copied whole again: past this share of its rows, it is.
REWRITE_SHARE = 0.25


def publish(state: Path, published: Path, health_only: bool = False, manifest: Path | None = None) -> dict[str, str]:
    """Publish the working state's marts into a new file renamed over the
    published one (docs/publishing.md), writing only what changed: the new file
    starts as a byte copy of the published one; a mart whose rows are the ones
    last published is kept; an incremental mart with a unique key (from dbt's
    `manifest`) gets the rows its model wrote since; any other changed mart is
    copied whole. health_only: keep the published marts, refresh only the
    data-health tables (a failed run's test results). Returns what was done
    to each mart (kept, patched, copied)."""
    import duckdb

    tmp = published.with_name(f"{published.name}.publishing-{os.getpid()}")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    old_exists = published.exists()
    if health_only and not old_exists:
        return {}
    if old_exists:
        shutil.copyfile(published, tmp)  # a kernel-side copy (sendfile): the bytes, not the rows
        if Path(str(published) + ".wal").exists():
            shutil.copyfile(str(published) + ".wal", str(tmp) + ".wal")
    keys = manifest_keys(manifest)
    actions: dict[str, str] = {}
    con = duckdb.connect()
    try:
        state_db = _attach(con, state)
        con.execute(f"attach {sql_literal(tmp)} as pub_db")
        for schema in (*PUBLISHED_SCHEMAS, LOG_SCHEMA):
            con.execute(f"create schema if not exists pub_db.{schema}")
        con.execute(f"""create table if not exists pub_db.{LOG_SCHEMA}.{LOG_TABLE} (
            schema_name varchar, table_name varchar, row_count bigint, checksum hugeint,
            watermark timestamp, deleted_since_copy bigint, changed_at timestamp, action varchar)""")
        log = _read_log(con)
        objects = [t for t in _published_objects(con, state_db) if not health_only or t[1] in HEALTH_TABLES]
        if not health_only:
            for schema, name in set(_published_objects(con, "pub_db")) - set(objects):
                con.execute(f"drop table if exists pub_db.{schema}.{sql_ident(name)}")
                con.execute(f"drop view if exists pub_db.{schema}.{sql_ident(name)}")
                con.execute(f"delete from pub_db.{LOG_SCHEMA}.{LOG_TABLE} where schema_name = $1 and table_name = $2",
                            [schema, name])
        for schema, name in objects:
            m = _Mart(con, state_db, schema, name)
            *_, watermark, deleted = log.get((schema, name), (None, None, None, None))
            kept, now_rows, now_sum, now_mark, changed = _judge(con, m, log.get((schema, name)))
            if kept:
                actions[name] = "kept"
                continue
            same_shape = m.published_columns == m.columns
            action, deleted_now = "copied", 0
            key = keys.get(name)
            if (same_shape and m.stamped and key and watermark is not None
                    and (deleted or 0) + changed <= REWRITE_SHARE * max(now_rows, 1)):
                deleted_now = _patch(con, m, key, watermark, changed)
                action = "patched" if deleted_now is not None else "copied"
            if action == "copied":
                _copy_whole(con, m)
                deleted_now = 0
            con.execute(f"delete from pub_db.{LOG_SCHEMA}.{LOG_TABLE} where schema_name = $1 and table_name = $2",
                        [schema, name])
            con.execute(f"insert into pub_db.{LOG_SCHEMA}.{LOG_TABLE} values ($1, $2, $3, $4, $5, $6, "
                        f"current_timestamp::timestamp, $7)",
                        [schema, name, now_rows, now_sum, now_mark,
                         (deleted or 0) + deleted_now if action == "patched" else 0, action])
            actions[name] = action
        con.execute("checkpoint pub_db")
    finally:
        con.close()
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    os.replace(tmp, published)
    Path(str(published) + ".wal").unlink(missing_ok=True)
    if not health_only:
        record_published_run(state)
    return actions


def record_published_run(state: Path) -> None:
    """Record in the working state the batch stamp of the run just published
    (the newest run in its test log, dq_runtime.test_results: the stamp dbt gave
    its rows; a published run that logged no test would record the run before
    it, which only widens the next batch): the next run's batch-scoped tests
    read the rows stamped since it (cx_batch_condition), so a retry after a
    failed run tests again what that run wrote."""
    import duckdb

    con = duckdb.connect(str(state))
    try:
        logged = con.execute("select count(*) from information_schema.tables where table_schema = 'dq_runtime' "
                             "and table_name in ('test_results', 'published_runs')").fetchone()[0]
        if logged == 2:  # both made by every run's on-run-start
            con.execute("insert into dq_runtime.published_runs select max(run_started_at), "
                        "timezone('UTC', current_timestamp) from dq_runtime.test_results having count(*) > 0")
    finally:
        con.close()


def summarise(actions: dict[str, str]) -> str:
    """`3 marts patched, 2 copied, 21 kept` (what a publish wrote)."""
    counts = {a: sum(v == a for v in actions.values()) for a in ("patched", "copied", "kept")}
    return ", ".join(f"{n} {a}" for a, n in counts.items() if n) or "nothing"


def clean_stale_publish_files(published: Path) -> None:
    """Half-written publish files of runs that were killed (we hold the lock)."""
    for p in published.parent.glob(published.name + ".publishing-*"):
        p.unlink(missing_ok=True)
