"""The warehouse on PostgreSQL: a throw-away server, the committed sample (in
a landing folder whose path holds a space, a quote, an accented letter and
glob brackets, raw_contacts as two deliveries, one named like SQL:
_builds.awkward_landing, and a third whose order among them depends on the
collation: _builds.collation_probe) loaded into a database whose text sorts
linguistically (ICU en-US, not byte-wise) with `python -m cx_warehouse.engines.postgres load`, `dbt build
--target postgres` (models, seeds, unit and data tests), every published
mart equal row for row to a DuckDB build of the same sample (also after a
second, incremental build), and the
read-only reporting role: it reads the marts and is refused staging and the
loaded exports (personal data).

Skipped only when the PostgreSQL server binaries (initdb, pg_ctl) are
missing. Run it from the project folder with the venv's interpreter
(`.venv/bin/python -m pytest tests/python/test_engine_postgres.py`).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cx_warehouse.contract import load_contract
from cx_warehouse.engines import postgres as pg
from cx_warehouse.engines.compare import compare_marts

from _builds import AWKWARD_DELIVERIES, COLLATION_PROBE
from _warehouse import PROJECT

SAMPLE = PROJECT / "data" / "sample_exports"
DBT = Path(sys.executable).with_name("dbt")


def _server_binaries() -> bool:
    try:
        pg.find_bindir()
        return True
    except pg.LoadError:
        return False


# `make test` sets CX_REQUIRE_ENGINES=1 (after `make engine-services` installed them): there a
# missing server fails the test instead of skipping it.
pytestmark = pytest.mark.skipif(not _server_binaries() and os.environ.get("CX_REQUIRE_ENGINES") != "1",
                                reason="PostgreSQL server binaries not found")


def dbt(args: list[str], env: dict[str, str], target_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DBT_PROFILES_DIR=str(PROJECT), DBT_SEND_ANONYMOUS_USAGE_STATS="False", **env)
    return subprocess.run([str(DBT), *args, "--target-path", str(target_path), "--no-use-colors"],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def server():
    env = pg.start_server()
    try:
        yield env
    finally:
        pg.stop_server(env["CX_PG_DIR"])


@pytest.fixture(scope="module")
def built(server, awkward_sample_build, tmp_path_factory):
    root = tmp_path_factory.mktemp("engine_postgres")
    raw = Path(awkward_sample_build["raw"])
    load = subprocess.run([sys.executable, "-m", "cx_warehouse.engines.postgres", "load", "--raw-dir", str(raw)],
                          cwd=PROJECT, env=dict(os.environ, **server), capture_output=True, text=True)
    assert load.returncode == 0, load.stdout + load.stderr
    pg_target = root / "target_pg"
    build = dbt(["build", "--target", "postgres"], server, pg_target)
    # the DuckDB reference: the session's build of the same landing folder (its tests run there too)
    return {"env": server, "raw": raw, "load": load, "build": build, "ref": Path(awkward_sample_build["db"]),
            "manifest": pg_target / "manifest.json", "probe": awkward_sample_build["probe_contact_id"]}


def test_the_sample_loads_and_builds_on_postgres(built):
    assert "loaded 251017 rows of 16 new deliveries" in built["load"].stdout
    assert built["build"].returncode == 0, built["build"].stdout[-6000:]
    assert " ERROR=0 " in built["build"].stdout


def test_on_a_linguistic_collation_deliveries_are_still_ordered_byte_wise(built):
    # the database orders text as en-US does: the probe delivery sorts before the SQL-like one ...
    con = pg.connect(built["env"])
    try:
        with con.cursor() as cur:
            cur.execute("select datlocprovider, daticulocale from pg_database where datname = current_database()")
            assert cur.fetchone() == ("i", pg.LINGUISTIC_COLLATION)
            cur.execute("select source_delivery from cis.raw_deliveries where export_name = 'raw_contacts' "
                        "order by source_delivery")
            assert [r[0] for r in cur.fetchall()] == [AWKWARD_DELIVERIES[0], COLLATION_PROBE, AWKWARD_DELIVERIES[1]]
            # ... yet the correction it holds is in force, as byte order (DuckDB's) has it
            cur.execute("select source_delivery, is_in_force from staging.stg_cis__contacts "
                        "where contact_id = %s order by is_in_force", (built["probe"],))
            assert cur.fetchall() == [(AWKWARD_DELIVERIES[1], False), (COLLATION_PROBE, True)]
    finally:
        con.close()


def test_every_published_mart_equals_the_duckdb_build(built):
    assert compare_marts(built["ref"], built["env"], manifest_path=built["manifest"]) == []


def test_a_second_build_is_incremental_and_publishes_the_same_marts(built, tmp_path):
    # (without the unit tests, as a run builds: the first build ran them on this engine)
    again = dbt(["build", "--target", "postgres", "--exclude-resource-type", "unit_test"], built["env"],
                tmp_path / "target_pg")
    assert again.returncode == 0, again.stdout[-6000:]
    # nothing new was loaded: the staging models insert no row
    assert re.search(r"incremental model staging\.stg_cis__ami_daily_reads \.+ \[INSERT 0 0 ", again.stdout)
    assert compare_marts(built["ref"], built["env"], manifest_path=tmp_path / "target_pg" / "manifest.json") == []


def test_the_reporting_role_reads_the_marts_and_nothing_personal(built):
    import psycopg2

    admin = pg.connect(built["env"])
    admin.autocommit = True
    with admin.cursor() as cur:  # dbt creates it NOLOGIN; a BI login would be a member of it
        cur.execute("alter role cx_reporting login")
    admin.close()
    con = pg.connect(dict(built["env"], PGUSER="cx_reporting"))
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select count(*) from marts.fct_cx_metrics")
            assert cur.fetchone()[0] > 0
            cur.execute("select count(*) from marts.dq_test_results")  # a view over the test log
            assert cur.fetchone()[0] > 0
            for private in ("staging.stg_cis__customers", "cis.raw_customers", "intermediate.int_accounts"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(f"select count(*) from {private}")
    finally:
        con.close()


def test_loading_again_skips_the_deliveries_already_loaded(built):
    results = pg.load(built["raw"], built["env"], log=lambda *_: None)
    assert sum(r.new for r in results) == 0 and sum(r.unchanged for r in results) == 16


def test_a_missing_export_stops_the_load_with_one_line_naming_it(built, tmp_path):
    raw = tmp_path / "exports"
    raw.mkdir()
    for f in SAMPLE.glob("raw_*.csv"):
        if f.name != "raw_surveys.csv":
            (raw / f.name).symlink_to(f)
    proc = subprocess.run([sys.executable, "-m", "cx_warehouse.engines.postgres", "load", "--raw-dir", str(raw)],
                          cwd=PROJECT, env=dict(os.environ, **built["env"]), capture_output=True, text=True)
    assert proc.returncode == 2
    assert "raw_surveys: export is missing" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def read_alone(tmp_path_factory):
    """The reading alone (no server): DuckDB's intake as the loader runs it, in one run for
    the two deliveries below ({name: Delivery})."""
    import duckdb

    contract = {e.name: e for e in load_contract()}
    folder = tmp_path_factory.mktemp("pg_reading")
    # the record kinds of test_hostile_exports
    customers = folder / "raw_customers.csv"
    customers.write_bytes(b"\xef\xbb\xbfcustomer_id,full_name,email,phone,birth_date,extra\r\n"
                          b'C1,"Smith, Ann ""Annie""",a@example.com,555,1980-02-29,x\r\n'
                          b'C2,"Line one\r\nline two",,,,\r\n'
                          b"C3,J\xe9r\xf4me,,,,\r\n"
                          b"C4,Short\r\n"
                          b"\r\n"
                          b"C5,Nul\x00Byte,,,,\r\n"
                          b'C6,Str"ay,,,,\r\n'
                          b'C7,"Unterminated,,,,\r\nC8,After,,,,\r\n')
    # typed columns (dates, a double, a decimal, a boolean; an extra column; a null)
    bills = folder / "raw_bills.parquet"
    with duckdb.connect() as con:
        con.execute(f"""copy (select 'B1' as bill_id, 'A1' as account_id, 'R1' as billing_run_id,
            date '2024-01-10' as bill_date, date '2024-01-01' as service_period_start,
            date '2024-01-31' as service_period_end, 12.5::double as billed_kwh,
            cast(3.2 as decimal(10, 2)) as amount_due, false as is_estimated, cast(null as varchar) as corrects_bill_id,
            'x' as extra)
            to '{bills}' (format parquet)""")
    read = pg.read_deliveries([(contract["raw_customers"], customers), (contract["raw_bills"], bills)])
    return {"contract": contract, **{d.export: d for d in read}}


def test_malformed_records_are_kept_with_their_line_and_reason(read_alone):
    """Lines as DuckDB's reader counts them (header = 1, quoted breaks not counted)."""
    d = read_alone["raw_customers"]
    assert [r[:2] for r in d.rows] == [["C1", 'Smith, Ann "Annie"'], ["C2", "Line one\r\nline two"],
                                       ["C5", "Nul" + pg.NUL_SENTINEL + "Byte"], ["C6", 'Str"ay']]
    # survey_opt_out may be absent (a column added to the contract later): read as empty
    assert d.rows[0][2:] == ["a@example.com", "555", "1980-02-29", None]
    assert [(line, reason) for line, reason, _ in d.malformed] == [
        (4, "invalid UTF-8"), (5, "6 fields expected, 2 found"), (9, "unterminated quote")]
    assert d.malformed[1][2] == "C4,Short"
    assert d.stray == [("C6", "full_name")]


def test_typed_parquet_columns_load_as_the_text_duckdb_reads(read_alone):
    """A Parquet delivery with typed columns: the values as text, as DuckDB's own intake casts
    them (12.5, 3.20)."""
    export, d = read_alone["contract"]["raw_bills"], read_alone["raw_bills"]
    row = dict(zip(export.column_names, d.rows[0]))
    assert row["bill_date"] == "2024-01-10" and row["billed_kwh"] == "12.5" and row["is_estimated"] == "false"
    assert row["amount_due"] == "3.20" and row["bill_id"] == "B1"
    assert row["corrects_bill_id"] is None  # a null stays null
