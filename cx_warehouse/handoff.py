"""The survey hand-off: the one path by which personal data leaves the
warehouse (docs/contract/survey-triggers.md, "Hand-off").

`python -m cx_warehouse surveys handoff --out DIR` writes every trigger that
is `due` in the published warehouse (the audited run), whose send window has
not ended by the clock (UTC), and that no earlier batch holds, as one CSV
batch in DIR, with the customer's name and e-mail (in force), which only the
working state holds, plus a manifest (batch id, as-of date, rows, sha256 of
the CSV). It holds the warehouse's run lock from start to end: no run
rewrites what it reads, and no run copies the ledger in (the on-run-start
hook load_handoff_ledger) while it is written.

- DIR must be private: after resolving links, neither its group nor others
  may read it, and it may not be the published warehouse's folder (or inside
  it), which BI reads. Files are created owner-only (0600).
- Exactly once: a ledger (`<name>.survey-handoffs.duckdb`, beside the
  published file, no personal data) records each trigger with its batch. A
  rebuild of the warehouse (FULL_REFRESH=1, a deleted working state) never
  touches it. Order of a batch: write the CSV under a temporary name, record
  the batch in the ledger (one transaction), rename the CSV. A crash before
  the record leaves a temporary file that the next hand-off deletes (its
  triggers are handed off again); a crash after it leaves one that the next
  hand-off finishes by renaming.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .contract import ContractError, sql_literal
from .publish import RunLock

COLUMNS = ["trigger_type", "trigger_id", "event_at", "send_window_start", "send_window_end", "account_id",
           "full_name", "email"]
PENDING = ".pending"

# the due triggers of the published (audited) run, with the customer's name
# and e-mail from the working state (rows in force): attached as pub and state.
# The published triggers already suppress an opted-out customer (opted_out);
# the state may hold a newer customers export than the published run (a run
# that failed its tests after loading it): an opt-out there is honoured too.
DUE_SQL = """
select t.trigger_type, t.trigger_id, t.event_at, t.send_window_start, t.send_window_end, t.account_id,
       c.full_name, c.email
from pub.marts.fct_survey_triggers as t
inner join state.intermediate.int_accounts as a on a.account_id = t.account_id
inner join state.staging.stg_cis__customers as c on c.customer_id = a.customer_id and c.is_in_force
where t.status = 'due' and t.send_window_end > $now and c.email is not null
    and not coalesce(c.survey_opt_out, false)
order by t.send_window_start, t.trigger_type, t.trigger_id
"""


class HandoffError(ContractError):
    """A hand-off refused before anything was written (exit 2)."""


@dataclass
class Handoff:
    batch_id: str | None
    rows_by_type: dict[str, int]
    csv_path: Path | None
    manifest_path: Path | None
    already: int  # due triggers an earlier batch holds


def ledger_path(published: Path) -> Path:
    from .pipeline import handoff_ledger

    return handoff_ledger(published)


def check_private(out: Path, published: Path) -> Path:
    """The resolved hand-off folder, or HandoffError naming why it may not hold personal data."""
    real = out.resolve()
    if not real.is_dir():
        raise HandoffError(f"hand-off folder {out} does not exist (create it with mode 700)")
    mode = stat.S_IMODE(real.stat().st_mode)
    if mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        raise HandoffError(f"hand-off folder {real} can be read or written by its group or others "
                           f"(mode {mode:o}); it holds personal data: chmod 700 it")
    pub_dir = published.resolve().parent
    if real == pub_dir or pub_dir in real.parents:
        raise HandoffError(f"hand-off folder {real} is inside the published warehouse's folder {pub_dir}, "
                           "which BI reads; choose a private folder elsewhere")
    return real


def _open_ledger(path: Path):
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("""create table if not exists batches (batch_id varchar primary key, created_at timestamp,
        as_of_date date, row_count bigint, rows_by_type varchar, sha256 varchar, file_name varchar)""")
    con.execute("""create table if not exists handed_off (trigger_type varchar, trigger_id varchar,
        batch_id varchar, primary key (trigger_type, trigger_id))""")
    return con


def _private_write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish_pending(out: Path, ledger) -> None:
    """Temporary files of an interrupted hand-off: renamed if the ledger holds their batch, else removed."""
    recorded = {r[0] for r in ledger.execute("select file_name from batches").fetchall()}
    for tmp in out.glob(f"*{PENDING}"):
        final = tmp.with_name(tmp.name[:-len(PENDING)])
        if final.with_suffix(".csv").name in recorded:  # a batch's CSV and manifest go together
            os.replace(tmp, final)
        else:
            tmp.unlink()


def _not_handed_off(rows: list[tuple], ledger) -> list[tuple]:
    done = {tuple(r) for r in ledger.execute("select trigger_type, trigger_id from handed_off").fetchall()}
    return [r for r in rows if (r[0], r[1]) not in done]


def _count(rows: list[tuple]) -> dict[str, int]:
    by_type: dict[str, int] = {}
    for r in rows:
        by_type[r[0]] = by_type.get(r[0], 0) + 1
    return by_type


def handoff(published: Path, out: Path, now: datetime | None = None, dry_run: bool = False) -> Handoff:
    """Hand off the due triggers no batch holds yet (module docstring). Holds
    the warehouse's run lock throughout: no run rewrites the files it reads,
    and no run reads the ledger (load_handoff_ledger) while it is written."""
    from .pipeline import state_path

    published = Path(published).resolve()
    state = state_path(published)
    if not (published.exists() and state.exists()):
        raise HandoffError(f"no published warehouse at {published} (with its working state); run `make run` first")
    real = check_private(Path(out), published)
    if not os.access(real, os.W_OK | os.X_OK):
        raise HandoffError(f"hand-off folder {real} is not writable by this user")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    with RunLock(published):
        rows, as_of = _due(published, state, now)
        if dry_run:  # counts only: the ledger is read, nothing is written
            new = rows
            if ledger_path(published).exists():
                with _ledger(published, read_only=True) as con:
                    new = _not_handed_off(rows, con)
            return Handoff(None, _count(new), None, None, len(rows) - len(new))
        with _ledger(published) as ledger:
            return _write_batch(ledger, real, rows, as_of, now)


def _due(published: Path, state: Path, now: datetime) -> tuple[list[tuple], object]:
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"attach {sql_literal(published)} as pub (read_only)")
        con.execute(f"attach {sql_literal(state)} as state (read_only)")
        rows = con.execute(DUE_SQL, {"now": now}).fetchall()
        as_of = con.execute("select max(as_of_date) from pub.marts.dim_accounts").fetchone()[0]
    return rows, as_of


@contextlib.contextmanager
def _ledger(published: Path, read_only: bool = False):
    """The ledger, opened (created when absent, unless read-only), or
    HandoffError in one line when it cannot be: nothing is written then."""
    import duckdb

    path = ledger_path(published)
    try:
        con = duckdb.connect(str(path), read_only=True) if read_only else _open_ledger(path)
        con.execute("select count(*) from batches").fetchone()
        con.execute("select count(*) from handed_off").fetchone()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HandoffError(f"cannot read the hand-off ledger {path}: {first}; nothing was handed off "
                           f"(move the file aside only if you know which batches it recorded)") from None
    try:
        yield con
    finally:
        con.close()


def _write_batch(ledger, real: Path, rows: list[tuple], as_of, now: datetime) -> Handoff:
    _finish_pending(real, ledger)
    new = _not_handed_off(rows, ledger)
    by_type = _count(new)
    if not new:
        return Handoff(None, by_type, None, None, len(rows) - len(new))
    batch = f"surveys-{now:%Y%m%dT%H%M%S}Z"
    taken = {r[0] for r in ledger.execute("select batch_id from batches").fetchall()}
    n = 1
    while batch in taken:
        n += 1
        batch = f"surveys-{now:%Y%m%dT%H%M%S}Z-{n}"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in new:
        writer.writerow(["" if v is None else (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for v in r])
    data = buf.getvalue().encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    csv_path, manifest_path = real / f"{batch}.csv", real / f"{batch}.json"
    manifest = {"batch_id": batch, "as_of_date": str(as_of), "created_at": now.isoformat(sep=" "),
                "row_count": len(new), "rows_by_type": by_type, "file": csv_path.name, "sha256": digest}
    # 1. write (temporary names), 2. record, 3. rename
    _private_write(Path(str(csv_path) + PENDING), data)
    _private_write(Path(str(manifest_path) + PENDING), (json.dumps(manifest, indent=2) + "\n").encode())
    ledger.execute("begin")
    ledger.execute("insert into batches values (?, ?, ?, ?, ?, ?, ?)",
                   [batch, now, as_of, len(new), json.dumps(by_type), digest, csv_path.name])
    ledger.executemany("insert into handed_off values (?, ?, ?)", [[r[0], r[1], batch] for r in new])
    ledger.execute("commit")
    os.replace(Path(str(csv_path) + PENDING), csv_path)
    os.replace(Path(str(manifest_path) + PENDING), manifest_path)
    return Handoff(batch, by_type, csv_path, manifest_path, len(rows) - len(new))


def format_handoff(h: Handoff, dry_run: bool = False) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(h.rows_by_type.items())) or "none"
    total = sum(h.rows_by_type.values())
    if dry_run:
        return f"surveys hand-off (dry run): {total} due to hand off ({counts}); {h.already} already handed off"
    if not h.batch_id:
        return f"surveys hand-off: nothing new to hand off; {h.already} due trigger(s) already handed off"
    return (f"surveys hand-off: batch {h.batch_id}, {total} trigger(s) ({counts}) -> {h.csv_path} "
            f"(manifest {h.manifest_path.name}); {h.already} already handed off")
