"""The survey hand-off (cx_warehouse.handoff): the due triggers, with name
and e-mail, leave the warehouse once, into a private folder, in batches a
crash cannot half-record. A hand-made working state (the tables the
hand-off reads), the clock fixed with --now; no dbt run."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from cx_warehouse import handoff as ho
from cx_warehouse.pipeline import state_path

from _warehouse import run_cli

NOW = "2025-03-02 12:00:00"
TRIGGERS = [
    # trigger_type, trigger_id, account_id, event_at, window start, window end, status
    ("contact", "C-1", "A1", "2025-03-01 09:00:00", "2025-03-02 09:00:00", "2025-03-03 09:00:00", "due"),
    ("bill", "B-1", "A2", "2025-02-27 00:00:00", "2025-02-28 00:00:00", "2025-03-01 00:00:00", "due"),  # window ended
    ("payment", "P-1", "A1", "2025-02-01 10:00:00", "2025-02-02 10:00:00", "2025-02-03 10:00:00", "expired"),
    ("service_order", "S-1", "A3", "2025-03-01 08:00:00", "2025-03-02 08:00:00", "2025-03-03 08:00:00", "suppressed"),
    ("bill", "B-2", "A4", "2025-03-02 00:00:00", "2025-03-03 00:00:00", "2025-03-04 00:00:00", "due"),
    ("payment", "P-2", "A5", "2025-03-01 12:00:00", "2025-03-02 12:00:00", "2025-03-03 12:00:00", "due"),
    # due in the published run, but the working state holds a newer customers
    # export in which K6 opted out: never handed off
    ("contact", "C-6", "A6", "2025-03-01 10:00:00", "2025-03-02 10:00:00", "2025-03-03 10:00:00", "due"),
]
ACCOUNTS = [("A1", "K1"), ("A2", "K2"), ("A3", "K3"), ("A4", "K4"), ("A5", "K5"), ("A6", "K6")]
CUSTOMERS = [  # customer_id, full_name, email, survey_opt_out, is_in_force
    ("K1", "Ann Lee", "ann@example.com", False, True), ("K2", "Bo Chan", "bo@example.com", None, True),
    ("K3", "Cy Dee", "cy@example.com", False, True), ("K4", 'O\'Brien, "Di"', "di@example.com", False, True),
    ("K5", "Ed Fox", "old@example.com", True, False), ("K5", "Ed Fox", "ed@example.com", False, True),
    ("K6", "Flo Gil", "flo@example.com", True, True),
]
# hand-derived: due, window not ended at NOW, the customer's row in force, not opted out
EXPECTED = [
    ["contact", "C-1", "2025-03-01 09:00:00", "2025-03-02 09:00:00", "2025-03-03 09:00:00", "A1", "Ann Lee",
     "ann@example.com"],
    ["payment", "P-2", "2025-03-01 12:00:00", "2025-03-02 12:00:00", "2025-03-03 12:00:00", "A5", "Ed Fox",
     "ed@example.com"],
    ["bill", "B-2", "2025-03-02 00:00:00", "2025-03-03 00:00:00", "2025-03-04 00:00:00", "A4", 'O\'Brien, "Di"',
     "di@example.com"],
]


def write_warehouse(published: Path, triggers=TRIGGERS) -> None:
    """The published file (the audited triggers, the as-of date) and its working state (who the customers are)."""
    published.unlink(missing_ok=True)
    with duckdb.connect(str(published)) as con:
        con.execute("create schema marts")
        con.execute("""create table marts.fct_survey_triggers (trigger_type varchar, trigger_id varchar,
            account_id varchar, event_at timestamp, send_window_start timestamp, send_window_end timestamp,
            status varchar)""")
        con.executemany("insert into marts.fct_survey_triggers values (?, ?, ?, ?, ?, ?, ?)", triggers)
        con.execute("create table marts.dim_accounts as select date '2025-03-01' as as_of_date")
    state = state_path(published)
    state.unlink(missing_ok=True)
    with duckdb.connect(str(state)) as con:
        for schema in ("intermediate", "staging"):
            con.execute(f"create schema {schema}")
        con.execute("create table intermediate.int_accounts (account_id varchar, customer_id varchar)")
        con.executemany("insert into intermediate.int_accounts values (?, ?)", ACCOUNTS)
        con.execute("""create table staging.stg_cis__customers (customer_id varchar, full_name varchar,
            email varchar, survey_opt_out boolean, is_in_force boolean)""")
        con.executemany("insert into staging.stg_cis__customers values (?, ?, ?, ?, ?)", CUSTOMERS)


@pytest.fixture
def warehouse(tmp_path):
    published = tmp_path / "wh" / "cx.duckdb"
    published.parent.mkdir()
    write_warehouse(published)
    out = tmp_path / "handoff"
    out.mkdir(mode=0o700)
    out.chmod(0o700)
    return published, out


def handoff_cli(published: Path, out: Path, *extra: str):
    return run_cli("surveys", "handoff", "--out", str(out), "--duckdb", str(published), "--now", NOW, *extra)


def read_batch(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_the_due_triggers_leave_once_with_name_and_email_in_a_private_batch(warehouse):
    published, out = warehouse
    proc = handoff_cli(published, out)
    assert proc.returncode == 0, proc.stderr
    assert "3 trigger(s) (bill 1, contact 1, payment 1)" in proc.stdout
    (batch,) = sorted(out.glob("*.csv"))
    rows = read_batch(batch)
    assert rows[0] == ho.COLUMNS and rows[1:] == EXPECTED
    manifest = json.loads(batch.with_suffix(".json").read_text())
    assert manifest == {"batch_id": batch.stem, "as_of_date": "2025-03-01", "created_at": NOW, "row_count": 3,
                        "rows_by_type": {"contact": 1, "payment": 1, "bill": 1}, "file": batch.name,
                        "sha256": hashlib.sha256(batch.read_bytes()).hexdigest()}
    for f in (batch, batch.with_suffix(".json")):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    # again, and after a rebuild of the warehouse: nothing is handed off twice
    again = handoff_cli(published, out)
    assert again.returncode == 0 and "nothing new to hand off; 3 due trigger(s) already handed off" in again.stdout
    write_warehouse(published)
    assert "nothing new" in handoff_cli(published, out).stdout
    assert len(list(out.glob("*.csv"))) == 1
    # the ledger is beside the published file and holds no personal data
    with duckdb.connect(str(ho.ledger_path(published)), read_only=True) as con:
        assert con.execute("select count(*), count(distinct batch_id) from handed_off").fetchone() == (3, 1)
        cells = " ".join(str(v) for t in ("batches", "handed_off") for r in con.execute(f"from {t}").fetchall() for v in r)
    assert "@" not in cells and "Ann" not in cells


def test_a_new_due_trigger_goes_in_the_next_batch_alone(warehouse):
    published, out = warehouse
    assert handoff_cli(published, out).returncode == 0
    late = ("service_order", "S-2", "A2", "2025-03-02 10:00:00", "2025-03-03 10:00:00", "2025-03-04 10:00:00", "due")
    write_warehouse(published, [*TRIGGERS, late])
    proc = run_cli("surveys", "handoff", "--out", str(out), "--duckdb", str(published), "--now", "2025-03-02 13:00:00")
    assert proc.returncode == 0, proc.stderr
    second = sorted(out.glob("*.csv"))[-1]
    assert [r[:2] for r in read_batch(second)[1:]] == [["service_order", "S-2"]]


def test_a_dry_run_counts_and_writes_nothing(warehouse):
    published, out = warehouse
    proc = handoff_cli(published, out, "--dry-run")
    assert proc.returncode == 0 and "3 due to hand off (bill 1, contact 1, payment 1)" in proc.stdout
    assert not list(out.iterdir()) and not ho.ledger_path(published).exists()
    # after a real hand-off, a dry run counts what is left
    assert handoff_cli(published, out).returncode == 0
    assert "0 due to hand off (none); 3 already handed off" in handoff_cli(published, out, "--dry-run").stdout


@pytest.mark.parametrize("where", ["group_readable", "inside_the_published_folder", "link_to_a_public_folder"])
def test_a_folder_others_can_read_is_refused_in_one_line(warehouse, tmp_path, where):
    published, _ = warehouse
    if where == "group_readable":
        out = tmp_path / "shared"
        out.mkdir()
        out.chmod(0o750)
    elif where == "inside_the_published_folder":
        out = published.parent / "surveys"
        out.mkdir()
        out.chmod(0o700)
    else:
        public = tmp_path / "public"
        public.mkdir()
        public.chmod(0o755)
        out = tmp_path / "private-looking"
        out.symlink_to(public)
    proc = handoff_cli(published, out)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not list(out.resolve().glob("*.csv")) and not ho.ledger_path(published).exists()


def test_a_crash_after_the_record_is_finished_and_one_before_it_is_undone(warehouse, monkeypatch):
    published, out = warehouse
    now = datetime(2025, 3, 2, 12, tzinfo=timezone.utc)

    def crash(*_):
        raise OSError("killed")

    # after the ledger's commit, before the renames: the next hand-off renames the files
    with monkeypatch.context() as m:
        m.setattr(ho.os, "replace", crash)
        with pytest.raises(OSError):
            ho.handoff(published, out, now=now)
    assert sorted(p.suffix for p in out.iterdir()) == [".pending", ".pending"]
    again = ho.handoff(published, out, now=now)
    assert again.batch_id is None and again.already == 3
    assert sorted(p.suffix for p in out.iterdir()) == [".csv", ".json"]
    # before the record: the next hand-off removes the files and hands the triggers off again
    for p in out.iterdir():
        p.unlink()
    os.remove(ho.ledger_path(published))
    with monkeypatch.context() as m:
        m.setattr(ho, "_open_ledger", lambda path: (_ for _ in ()).throw(OSError("killed")))
        (out / "surveys-x.csv.pending").write_text("half")
        with pytest.raises(OSError):
            ho.handoff(published, out, now=now)
    result = ho.handoff(published, out, now=now)
    assert result.batch_id and sum(result.rows_by_type.values()) == 3
    assert not list(out.glob("*.pending"))


def test_a_bad_clock_value_is_one_line():
    proc = run_cli("surveys", "handoff", "--out", "/tmp", "--now", "yesterday")
    assert proc.returncode == 2 and "--now 'yesterday' is not a timestamp" in proc.stderr


def test_a_warehouse_never_published_or_a_missing_folder_is_one_line(warehouse, tmp_path):
    published, out = warehouse
    never = handoff_cli(tmp_path / "nowhere" / "cx.duckdb", out)
    assert never.returncode == 2 and "no published warehouse at" in never.stderr
    missing = handoff_cli(published, tmp_path / "no-such-folder")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    for proc in (never, missing):
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not list(out.iterdir()) and not ho.ledger_path(published).exists()


def test_an_unreadable_ledger_is_one_line_and_left_as_it_was(warehouse):
    published, out = warehouse
    ledger = ho.ledger_path(published)
    ledger.write_bytes(b"not a DuckDB file\n" * 100)
    before = ledger.read_bytes()
    for extra in ((), ("--dry-run",)):
        proc = handoff_cli(published, out, *extra)
        assert proc.returncode == 2, proc.stderr
        assert "cannot read the hand-off ledger" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert ledger.read_bytes() == before and not list(out.iterdir())


def test_a_hand_off_while_a_run_or_another_hand_off_holds_the_warehouse_is_refused(warehouse):
    from cx_warehouse.publish import RunLock

    published, out = warehouse
    with RunLock(published):  # what a run, or a hand-off, holds until it ends
        proc = handoff_cli(published, out)
    assert proc.returncode == 3 and "another run is in progress" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not list(out.iterdir()) and not ho.ledger_path(published).exists()
    assert handoff_cli(published, out).returncode == 0  # and it succeeds once the lock is free
