"""Exports as they really arrive: malformed records, file-level faults,
concurrent runs, a run killed mid-build, readers during a publish, and
building twice.

A copy of the committed sample gets, appended to raw_customers.csv (personal
data), the legal oddities a CSV may hold and one record of every malformed
kind; raw_billing_runs.csv is rewritten with CRLF line ends and a byte-order
mark. The copy lands in a folder whose path holds a space, a quote, an accented
letter and glob brackets, and raw_contacts.csv arrives as a folder of two
deliveries, one of them named like SQL (_builds.awkward_landing): paths and
names reach SQL only as escaped literals.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from cx_warehouse.pipeline import RunLock, publish, state_path

from _warehouse import PROJECT, mart_differences, query, run_cli
from _builds import AWKWARD_DELIVERIES, awkward_landing, copy_warehouse

VARS = ["--vars", json.dumps({"orphan_error_share": 0.2})]

# appended to raw_customers.csv: (customer_id, bytes of the record, outcome)
LEGAL = [
    ("C900001", b'C900001,"Smith, Ann ""Annie""",ann@example.com,555-010-9999,1980-02-29\n', 'Smith, Ann "Annie"'),
    ("C900002", b'C900002,"Line one\r\nline two",,,\n', "Line one\r\nline two"),
]
MALFORMED = [  # position among the appended records, bytes, reason
    (3, b"C900003,J\xe9r\xf4me Dupont,,,\n", "invalid UTF-8"),
    (4, b"C900004,Short Row\n", "5 fields expected, 2 found"),
    (5, b"C900005,Long Row,,,,extra\n", "5 fields expected, 6 found"),
]
NUL = b"C900006,Nul\x00Byte,,,\n"
STRAY = b'C900007,Str"ay,,,\n'  # a quote inside an unquoted field
TAIL_GOOD = b"C900008,Last Good,,,\n"
# an unterminated quote runs to the end of the file: it swallows the record after it
UNTERMINATED = b'C900009,"Unterminated,,,\nC900010,After,,,\n'


def write_hostile(raw: Path) -> dict:
    customers = raw / "raw_customers.csv"
    original = customers.read_bytes()
    n = original.count(b"\n") - 1  # data records of the generated file (no quoted line breaks)
    body = b"".join(r[1] for r in LEGAL) + b"".join(r[1] for r in MALFORMED) + NUL + STRAY + TAIL_GOOD + UNTERMINATED
    customers.write_bytes(original + body)
    runs = raw / "raw_billing_runs.csv"
    runs.write_bytes(b"\xef\xbb\xbf" + runs.read_bytes().replace(b"\n", b"\r\n"))
    # header = line 1, generated records = lines 2..n+1, appended record k = line
    # n+1+k: the quoted line break in C900002 is inside one record, and the
    # reader counts records, not editor lines
    lines = {reason: n + 1 + k for k, _, reason in MALFORMED}
    lines["unterminated quote"] = n + 1 + 9
    return {"n": n, "lines": lines}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    clean = root / "clean"
    shutil.copytree(PROJECT / "data" / "sample_exports", clean)
    manifest = json.loads((clean / "_manifest.json").read_text())
    raw = awkward_landing(root, clean)
    info = write_hostile(raw)
    db = root / "published" / "cx.duckdb"
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(db), *VARS)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    first_copy = copy_warehouse(db, root / "first")
    return {"raw": raw, "clean": clean, "db": db, "root": root, "proc": proc, "first_copy": first_copy,
            "book": manifest["files"]["raw_customers"], **info}


def test_legal_csv_loads_exactly(hostile):
    state = state_path(hostile["db"])
    rows = dict(query(state, "select customer_id, full_name from staging.stg_cis__customers "
                             "where is_in_force and customer_id in ('C900001', 'C900002', 'C900008')").values)
    assert rows == {"C900001": 'Smith, Ann "Annie"', "C900002": "Line one\r\nline two", "C900008": "Last Good"}
    # CRLF line ends and a byte-order mark change nothing: the same rows and text
    # values as the plain file, the same rejections as the sample's manifest
    staged = query(state, "select billing_run_id, bill_cycle, raw_copies, is_rejected, source_line "
                          "from staging.stg_cis__billing_runs")
    with duckdb.connect() as con:
        plain = con.execute(f"select billing_run_id, bill_cycle from read_csv("
                            f"'{hostile['clean'] / 'raw_billing_runs.csv'}', all_varchar=true)").df()
    assert staged.raw_copies.sum() == len(plain) and staged.source_line.isna().all()
    assert set(map(tuple, staged[["billing_run_id", "bill_cycle"]].dropna().values)) == \
        set(map(tuple, plain.dropna().values))
    book = json.loads((hostile["clean"] / "_manifest.json").read_text())["files"]["raw_billing_runs"]
    assert staged.is_rejected.sum() == book["rejected_rows"]


def test_a_landing_path_and_delivery_names_with_quotes_spaces_and_accents_load_exactly(hostile):
    deliveries = query(hostile["db"], "select source_delivery, raw_rows from marts.dq_load_deliveries "
                                      "where source_file = 'raw_contacts' order by 1")
    assert list(deliveries.source_delivery) == AWKWARD_DELIVERIES
    # each delivery's records, all of them (the sample's contacts hold no quoted line break)
    written = [(hostile["raw"] / "raw_contacts" / n).read_bytes().count(b"\n") - 1 for n in AWKWARD_DELIVERIES]
    assert list(deliveries.raw_rows) == written
    book = json.loads((hostile["clean"] / "_manifest.json").read_text())["files"]["raw_contacts"]
    rec = query(hostile["db"], "select * from marts.dq_row_reconciliation where source_file = 'raw_contacts'").iloc[0]
    assert rec.raw_rows == sum(written) == book["raw_rows"]
    assert rec.raw_rows == rec.kept_rows + rec.duplicate_rows + rec.rejected_rows + rec.superseded_rows
    # every contact of the single file is staged, from the delivery that holds it
    with duckdb.connect() as con:
        ids = {r[0] for r in con.execute("select contact_id from read_csv($1, all_varchar=true)",
                                         [str(hostile["clean"] / "raw_contacts.csv")]).fetchall()}
    staged = query(state_path(hostile["db"]), "select distinct contact_id, source_delivery from staging.stg_cis__contacts")
    assert set(staged.contact_id.dropna()) == {i for i in ids if i is not None}
    assert set(staged.source_delivery) == set(AWKWARD_DELIVERIES)


def test_a_run_that_stops_before_its_tests_says_no_test_ran(hostile, tmp_path):
    proc = run_cli("run", "--raw-dir", str(hostile["raw"]), "--duckdb", str(tmp_path / "cx.duckdb"),
                   "--skip-gx", "--selector", "no_such_selector")
    assert proc.returncode != 0
    assert "Data health: no test ran (the run stopped before its tests)." in proc.stdout
    assert "every test passed" not in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_each_malformed_record_is_rejected_with_its_reason_and_line(hostile):
    rejected = query(hostile["db"], "select source_delivery, source_line, primary_key_value, reject_reason, raw_row "
                                    "from marts.dq_rejected_rows where source_file = 'raw_customers'")
    malformed = rejected[rejected.source_line.notna()]
    assert dict(zip(malformed.reject_reason, malformed.source_line.astype(int))) == hostile["lines"]
    assert (malformed.source_delivery == "raw_customers.csv").all()
    # personal data: the raw text is masked in the mart, kept in staging for operators
    assert (malformed.raw_row == '{"raw_line":"<personal data>"}').all()
    kept = query(state_path(hostile["db"]), "select source_line, malformed_line from staging.stg_cis__customers "
                                            "where source_line is not null order by 1")
    assert kept.malformed_line.iloc[1] == "C900004,Short Row"
    # a NUL byte and a stray quote are rejections too, with the row's key
    ours = rejected[rejected.source_line.isna() & rejected.primary_key_value.str.startswith("C9000")]
    assert sorted(zip(ours.primary_key_value, ours.reject_reason)) == [
        ("C900006", "NUL byte in value: full_name"), ("C900007", "stray quote in an unquoted field: full_name")]


def test_every_record_is_accounted_for(hostile):
    rec = query(hostile["db"], "select * from marts.dq_row_reconciliation where source_file = 'raw_customers'").iloc[0]
    book = hostile["book"]  # the sample's own counts (its planted defects included)
    # + 2 legal + 3 malformed + NUL + stray quote + a good tail + the unterminated record (one, holding two lines)
    assert rec.raw_rows == book["raw_rows"] + 2 + 3 + 1 + 1 + 1 + 1
    assert rec.malformed_rows == 4 and rec.rejected_rows == book["rejected_rows"] + 6
    assert rec.kept_rows == book["kept_rows"] + 3
    assert rec.raw_rows == rec.kept_rows + rec.duplicate_rows + rec.rejected_rows + rec.superseded_rows
    # the run printed no traceback and the gate passed despite the extra field
    assert "Traceback" not in hostile["proc"].stdout + hostile["proc"].stderr
    assert "checkpoint cx_data_quality: PASSED" in hostile["proc"].stdout


def _copy(hostile, tmp_path) -> Path:
    raw = tmp_path / "exports"
    shutil.copytree(hostile["clean"], raw)
    return raw


def _empty(raw):
    (raw / "raw_surveys.csv").write_bytes(b"")
    return "raw_surveys.csv: empty file (no header)"


def _header_only(raw):
    path = raw / "raw_payments.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    return "raw_payments.csv: header only, no data rows"


def _wrong_header(raw):
    path = raw / "raw_contacts.csv"
    text = path.read_text()
    path.write_text(text.replace("started_at", "start_time", 1))
    return "raw_contacts.csv: header lacks contract column 'started_at'"


def _parquet_wrong_type(raw):
    src = raw / "raw_ami_daily_reads.csv"
    with duckdb.connect() as con:
        con.execute(f"copy (select meter_id, read_date, try_cast(read_date as date) as kwh, read_quality "
                    f"from read_csv('{src}', all_varchar=true)) to '{raw / 'raw_ami_daily_reads.parquet'}' (format parquet)")
    src.unlink()
    return "raw_ami_daily_reads.parquet: column 'kwh' is DATE, the contract needs a decimal (or text)"


def _unreadable(raw):
    (raw / "raw_bills.csv").unlink()
    (raw / "raw_bills.parquet").write_bytes(b"PAR1 not really")
    return "raw_bills.parquet: cannot be read"


def _line_break_in_name(raw):
    (raw / "raw_payments").mkdir()
    (raw / "raw_payments.csv").rename(raw / "raw_payments" / "2025-01-01\n.csv")
    return "raw_payments/2025-01-01\\n.csv: a name holding a control character"


@pytest.mark.parametrize("fault", [_empty, _header_only, _wrong_header, _parquet_wrong_type, _unreadable,
                                   _line_break_in_name],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_file_level_fault_stops_the_run_with_one_line(hostile, tmp_path, fault):
    raw = _copy(hostile, tmp_path)
    expected = fault(raw)
    db = tmp_path / "wh" / "cx.duckdb"
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(db))
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any(expected in ln for ln in errors), proc.stderr
    assert len(errors) == 2  # the headline and the one problem
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not db.exists() and not state_path(db).exists()


def test_a_delivery_named_like_a_hidden_file_is_listed_and_passes_preflight(hostile, tmp_path):
    """Names starting with '.' or '_' (hidden to Spark's own readers, refused while Spark read
    the landing folder) load now that DuckDB's intake reads it for every engine: the
    preflight passes, and the run's plan and DuckDB's read_blob (the intake's listing) both
    list the two deliveries."""
    from cx_warehouse.contract import export_files

    raw = _copy(hostile, tmp_path)
    (raw / "raw_payments").mkdir()
    lines = (raw / "raw_payments.csv").read_bytes().splitlines(keepends=True)
    (raw / "raw_payments" / "_2025-01-01.csv").write_bytes(b"".join(lines[:50]))
    (raw / "raw_payments" / ".2025-01-02.csv").write_bytes(lines[0] + b"".join(lines[50:]))
    (raw / "raw_payments.csv").unlink()
    proc = run_cli("preflight", "--raw-dir", str(raw))
    assert proc.returncode == 0, proc.stderr
    names = [".2025-01-02.csv", "_2025-01-01.csv"]
    assert [p.name for p in export_files(raw, "raw_payments")] == names
    with duckdb.connect() as con:
        listed = con.execute("select parse_filename(filename) from read_blob(?) order by 1",
                             [str(raw / "raw_payments" / "*.csv")]).fetchall()
    assert [r[0] for r in listed] == names


def test_a_second_run_refuses_while_one_is_running(hostile, tmp_path):
    db = tmp_path / "wh" / "cx.duckdb"
    with RunLock(db):
        proc = run_cli("run", "--raw-dir", str(hostile["clean"]), "--duckdb", str(db))
    assert proc.returncode == 3
    assert "another run is in progress" in proc.stderr and f"(pid {os.getpid()})" in proc.stderr
    assert "Traceback" not in proc.stderr
    # a lock file left by a dead run holds a stale pid but no lock: the next run takes it over
    lock = db.with_name(db.name + ".lock")
    lock.write_text("999999")
    with RunLock(db) as held:
        assert held.path.read_text() == str(os.getpid())


def test_a_run_killed_mid_build_leaves_the_published_marts_and_the_next_run_succeeds(hostile, tmp_path):
    db = hostile["db"]
    before = query(db, "select * from marts.fct_cx_metrics order by all")
    raw = tmp_path / "exports"
    shutil.copytree(hostile["raw"], raw)
    surveys = raw / "raw_surveys.csv"
    surveys.write_bytes(surveys.read_bytes())  # a new fingerprint: work to do
    log = tmp_path / "killed.log"
    with log.open("w") as out:
        # --verbose: dbt's own log, as it goes, so the kill lands once a model has started
        proc = subprocess.Popen([sys.executable, "-m", "cx_warehouse", "run", "--raw-dir", str(raw),
                                 "--duckdb", str(db), "--verbose", *VARS], cwd=PROJECT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and " START sql " not in log.read_text():
            time.sleep(0.2)
        time.sleep(1.5)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert " START sql " in log.read_text()
    after = query(db, "select * from marts.fct_cx_metrics order by all")
    assert after.equals(before)
    rerun = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(db), *VARS)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-2000:]
    assert not list(db.parent.glob(db.name + ".publishing-*"))


def test_a_reader_keeps_its_snapshot_while_a_publish_replaces_the_file(hostile, tmp_path):
    db = tmp_path / "pub" / "cx.duckdb"
    db.parent.mkdir()
    shutil.copy2(hostile["db"], db)
    state = state_path(db)  # same catalog name as the original state: its views resolve
    shutil.copy2(state_path(hostile["db"]), state)
    with duckdb.connect(str(state)) as con:
        con.execute("update marts.dq_row_reconciliation set deliveries = deliveries + 100")
    reader = duckdb.connect(str(db), read_only=True)
    try:
        sql = "select sum(deliveries) from marts.dq_row_reconciliation"
        old = reader.execute(sql).fetchone()[0]
        publish(state, db)
        assert reader.execute(sql).fetchone()[0] == old
        assert reader.execute("select count(*) from marts.fct_cx_metrics").fetchone()[0] > 0
    finally:
        reader.close()
    assert query(db, "select sum(deliveries) as n from marts.dq_row_reconciliation").n[0] == old + 14 * 100


def test_building_twice_from_the_same_exports_publishes_identical_marts(hostile, tmp_path):
    # the first build is the module's own (same exports and vars; its gate does not change the marts),
    # copied before any other test of the module runs again on it
    # the second build: a full rebuild (every model and delivery again) over a copy of the first
    first = hostile["first_copy"]
    second = copy_warehouse(first, tmp_path / "b")
    again = run_cli("run", "--raw-dir", str(hostile["raw"]), "--duckdb", str(second), "--skip-gx",
                    "--full-refresh", *VARS)
    assert again.returncode == 0, again.stdout[-3000:]
    diffs = mart_differences(first, second)
    assert diffs and all(n == 0 for n in diffs.values()), diffs
