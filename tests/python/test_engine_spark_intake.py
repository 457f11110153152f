"""The Spark loader (cx_warehouse.engines.spark.load) without a JVM: DuckDB's
intake into the folder Spark reads, a day costing a day.

The sample, with raw_contacts as a folder of two deliveries, is loaded; then
one delivery is re-sent with a malformed record, one removed and one added,
and loaded again; then loaded in full. What Spark's views would read
(spark__cis_register_sources: the rows files of the batches the listing
names, less the rows of a delivery re-sent since) is read here with DuckDB
from the same files and compared with the landing folder.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from cx_warehouse.contract import sql_literal
from cx_warehouse.engines import spark

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_exports"


def _contacts_as_rows_spark_reads(intake: Path) -> list[tuple]:
    """raw_contacts as the view cis.raw_contacts selects it (spark__cis_register_sources): of
    each listed delivery, the rows of the batch the listing names for it."""
    con = duckdb.connect()
    try:
        listed = con.execute(f"select source_delivery, delivery_fingerprint, batch from read_parquet("
                             f"{sql_literal(str(intake / 'deliveries.parquet'))}) where export_name = 'raw_contacts'"
                             ).fetchall()
        files = sorted({str(intake / "batches" / b / "raw_contacts.rows.parquet") for _, _, b in listed})
        return con.execute("select contact_id, source_delivery from read_parquet(?, filename = true) "
                           "where (source_delivery, delivery_fingerprint, regexp_extract(filename, "
                           "'/batches/([^/]+)/[^/]+$', 1)) in (select unnest(?), unnest(?), unnest(?)) order by all",
                           [files, [d for d, _, _ in listed], [f for _, f, _ in listed],
                            [b for _, _, b in listed]]).fetchall()
    finally:
        con.close()


def _contacts_in(folder: Path) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute("select contact_id, parse_filename(filename) from read_csv(?, header = true, "
                           "all_varchar = true, filename = true, ignore_errors = true) order by all",
                           [str(folder / "*.csv")]).fetchall()
    finally:
        con.close()


def test_a_day_reads_only_its_deliveries_and_spark_sees_the_ones_in_force(tmp_path):
    raw = tmp_path / "land ing's" / "exports"
    shutil.copytree(SAMPLE, raw)
    header, *records = (raw / "raw_contacts.csv").read_bytes().splitlines(keepends=True)
    (raw / "raw_contacts.csv").unlink()
    folder = raw / "raw_contacts"
    folder.mkdir()
    (folder / "a.csv").write_bytes(header + b"".join(records[:300]))
    (folder / "b.csv").write_bytes(header + b"".join(records[300:600]))
    base = tmp_path / "spark"
    intake = spark.intake_dir(base)

    first = spark.load(raw, base=base, log=lambda line: None)
    assert len(first) == 14 and all(r["new"] == 1 for name, r in first.items() if name != "raw_contacts")
    assert first["raw_contacts"] == {"new": 2, "unchanged": 0, "removed": 0, "rows": 600, "malformed": 0}
    assert _contacts_as_rows_spark_reads(intake) == _contacts_in(folder)
    (first_batch,) = [p.name for p in (intake / "batches").iterdir()]

    # the next day: b re-sent with a short record on its line 3, a gone, c new
    a_text, a_times = (folder / "a.csv").read_bytes(), os.stat(folder / "a.csv")
    b = records[300:302] + [b"C-SHORT,2025-01-01\n"] + records[302:600]
    (folder / "b.csv").write_bytes(header + b"".join(b))
    os.utime(folder / "b.csv", (1_700_000_000, 1_700_000_000))
    (folder / "a.csv").unlink()
    (folder / "c.csv").write_bytes(header + b"".join(records[600:]))
    day = spark.load(raw, base=base, log=lambda line: None)
    assert day["raw_contacts"] == {"new": 2, "unchanged": 0, "removed": 1, "rows": len(records) - 300,
                                   "malformed": 1}
    assert all(r["new"] == 0 and r["unchanged"] == 1 for name, r in day.items() if name != "raw_contacts")
    # the day's batch holds the day's two deliveries only; the first batch still serves the other exports
    batches = sorted(p.name for p in (intake / "batches").iterdir())
    assert first_batch in batches and len(batches) == 2
    day_batch = next(n for n in batches if n != first_batch)
    assert sorted(p.name for p in (intake / "batches" / day_batch).glob("*.rows.parquet")) == ["raw_contacts.rows.parquet"]
    assert _contacts_as_rows_spark_reads(intake) == [r for r in _contacts_in(folder) if r[0] != "C-SHORT"]
    con = duckdb.connect()
    malformed = con.execute("select export_name, source_delivery, source_line, reason from read_parquet(?)",
                            [str(intake / "malformed_records.parquet")]).fetchall()
    assert malformed == [("raw_contacts", "b.csv", 4, f"{len(header.split(b','))} fields expected, 2 found")]

    # a restored unchanged (the same fingerprint as in the first batch, which other exports
    # still use): read again into a third batch, and its rows are in the view once
    (folder / "a.csv").write_bytes(a_text)
    os.utime(folder / "a.csv", ns=(a_times.st_atime_ns, a_times.st_mtime_ns))
    restored = spark.load(raw, base=base, log=lambda line: None)
    assert restored["raw_contacts"] == {"new": 1, "unchanged": 2, "removed": 0, "rows": 300, "malformed": 0}
    assert len(list((intake / "batches").iterdir())) == 3
    assert _contacts_as_rows_spark_reads(intake) == [r for r in _contacts_in(folder) if r[0] != "C-SHORT"]

    # in full: every delivery read again into one batch, the others removed
    full = spark.load(raw, base=base, full=True, log=lambda line: None)
    assert full["raw_contacts"]["new"] == 3 and full["raw_accounts"]["new"] == 1
    assert len(list((intake / "batches").iterdir())) == 1
    assert _contacts_as_rows_spark_reads(intake) == [r for r in _contacts_in(folder) if r[0] != "C-SHORT"]
    assert con.execute("select count(*) from read_parquet(?)", [str(intake / "malformed_records.parquet")]
                       ).fetchone()[0] == 1


def test_a_landing_folder_with_a_missing_export_is_refused_in_one_line(tmp_path):
    raw = tmp_path / "landing"
    shutil.copytree(SAMPLE, raw)
    (raw / "raw_surveys.csv").unlink()
    proc = subprocess.run([sys.executable, "-m", "cx_warehouse.engines.spark", "load", "--raw-dir", str(raw)],
                          env=dict(os.environ, CX_SPARK_INTAKE_DIR=str(tmp_path / "intake")),
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "raw_surveys: export is missing" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "intake").exists()
