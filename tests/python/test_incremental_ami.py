"""The incremental smart-meter models a scheduled run updates instead of
rebuilding: int_ami_read_gaps and int_ami_bill_usage.

One generated Parquet set (60 premises, 2024-01-01 .. 2024-04-30, deliveries)
has gaps carved into five meters that read every day, in every delivery:

- A misses end-24 .. end-18, and the last day's delivery brings a late read of
  A for end-22: the first read day the attribution rewrites is then end-22, so
  day R - 1 = end-23 lies inside A's stored gap, which splits in two;
- D misses end-27 .. end-23: a stored gap that ends exactly on day R - 1;
- B misses end-2 .. end: a trailing gap that grows with the last day;
- C misses end-3 .. end-1: a trailing gap that the last day closes;
- E has no read at all: one gap over its whole span, which grows.

The warehouse built in full from every delivery and the one built without the
last day and then given it (the accounts and meter installs unchanged, so the
attribution rewrites only the days the new deliveries touch and its lookback)
must hold the same gaps and bill comparisons, and the second must have kept
the rows the last day did not reach.
"""
from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from cx_warehouse.pipeline import state_path

from _warehouse import mart_differences, query, run_cli
from _builds import generated

START, END = date(2024, 1, 1), date(2024, 4, 30)
VARS = ["--vars", json.dumps({"orphan_error_share": 0.2})]


def day(offset: int) -> date:
    """end - offset"""
    return END - timedelta(days=offset)


def run_ok(raw: Path, db: Path):
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(db), "--skip-gx", *VARS)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    return proc


def carve(landing: Path) -> dict[str, str]:
    """Remove the planned reads from every delivery and add A's late read to
    the last day's; returns the meters chosen, by role."""
    reads_dir = landing / "raw_ami_daily_reads"
    con = duckdb.connect()
    try:
        every_day = [r[0] for r in con.execute(
            f"select meter_id from read_parquet('{reads_dir}/*.parquet') group by meter_id "
            f"having count(distinct try_cast(read_date as date)) = {(END - START).days + 1} order by meter_id limit 5").fetchall()]
        assert len(every_day) == 5
        roles = dict(zip("ADBCE", every_day))
        dropped = {
            "A": (day(24), day(18)), "D": (day(27), day(23)), "B": (day(2), day(0)),
            "C": (day(3), day(1)), "E": (START, END),
        }
        rule = " or ".join(
            f"(meter_id = '{roles[k]}' and try_cast(read_date as date) between '{lo}' and '{hi}')"
            for k, (lo, hi) in dropped.items())
        late = con.execute(
            f"select * from read_parquet('{reads_dir}/{day(22)}.parquet') where meter_id = '{roles['A']}'"
        ).fetchall()
        assert late
        for f in sorted(reads_dir.glob("*.parquet")):
            tmp = f.with_suffix(".tmp")
            extra = ""
            if f.name == f"{END}.parquet":
                extra = " union all select * from (values " + ", ".join(
                    "(" + ", ".join(f"'{v}'" for v in row) + ")" for row in late) + ")"
            con.execute(f"copy (select * from read_parquet('{f}') where not coalesce({rule}, false){extra}) "
                        f"to '{tmp}' (format parquet)")
            tmp.replace(f)
    finally:
        con.close()
    return roles


@pytest.fixture(scope="module")
def steady(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental_ami")
    full = root / "landing_full"
    # the Parquet set test_deliveries mixes into its chain: generated once per session, copied
    generated(full, accounts=60, start=START, end=END, seed=7, defect_rate=0.02,
              layout="deliveries", file_format="parquet")
    roles = carve(full)
    # a customers export from before survey_opt_out joined the contract (a column
    # that may be absent): a Parquet file without it loads, every value empty
    customers = full / "raw_customers.parquet"
    with duckdb.connect() as con:
        con.execute(f"copy (select * exclude (survey_opt_out) from read_parquet('{customers}')) "
                    f"to '{customers.with_suffix('.tmp')}' (format parquet)")
    customers.with_suffix(".tmp").replace(customers)
    # no billing on the last day: int_bills is not built again, so the survey chain
    # leaves the bill candidates as stored (survey_candidates_plan, survey_selection_skips_bills)
    for f in full.glob(f"raw_bills/{END}.*"):
        f.unlink()
    partial = root / "landing"
    shutil.copytree(full, partial)
    last = [f for f in partial.glob(f"*/{END}.*")]
    for f in last:
        f.unlink()
    # the last day also re-sends an earlier payments delivery without one of its payments
    # (P): P is then staged no more, and its candidate must go (the full build never sees it)
    with duckdb.connect() as con:
        # (one that keeps other payments)
        resent = max(f for f in (full / "raw_payments").glob("*.parquet") if f.stem < day(20).isoformat()
                     and con.execute(f"select count(*) from read_parquet('{f}')").fetchone()[0] >= 2)
        dropped = con.execute(f"select payment_id, account_id from read_parquet('{resent}') "
                              f"where account_id is not null order by payment_id limit 1").fetchone()
        con.execute(f"copy (select * from read_parquet('{resent}') where payment_id <> '{dropped[0]}') "
                    f"to '{resent.with_suffix('.tmp')}' (format parquet)")
        # and re-sends the first payments delivery empty (its columns, no row): staging and
        # the delivery accounts must then hold nothing of it, as a full build of the empty file
        emptied = min((full / "raw_payments").glob("*.parquet"))
        con.execute(f"copy (select * from read_parquet('{emptied}') limit 0) "
                    f"to '{emptied.with_suffix('.tmp')}' (format parquet)")
    resent.with_suffix(".tmp").replace(resent)
    emptied.with_suffix(".tmp").replace(emptied)
    full_db, inc_db = root / "full" / "cx.duckdb", root / "inc" / "cx.duckdb"
    run_ok(full, full_db)
    run_ok(partial, inc_db)
    before = query(state_path(inc_db), "select trigger_type, trigger_id, loaded_at from intermediate.int_survey_candidates")
    for f in [*full.glob(f"*/{END}.*"), resent, emptied]:
        shutil.copy2(f, partial / f.parent.name / f.name)
    last_day = run_ok(partial, inc_db)
    return {"roles": roles, "full": state_path(full_db), "inc": state_path(inc_db),
            "full_db": full_db, "inc_db": inc_db, "day": last_day, "dropped_payment": dropped[0],
            "candidates_before": before, "emptied": emptied.name}


def differences(a: Path, b: Path, table: str) -> int:
    """Rows of one warehouse's table missing from the other's, both ways (the
    run stamp loaded_at aside: it differs by construction)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        rel = f"intermediate.{table}"
        stamped = con.execute(f"select count(*) from duckdb_columns() where database_name = 'a' and "
                              f"schema_name = 'intermediate' and table_name = '{table}' "
                              f"and column_name = 'loaded_at'").fetchone()[0]
        cols = "* exclude (loaded_at)" if stamped else "*"
        return con.execute(
            f"select (select count(*) from (select {cols} from a.{rel} except all select {cols} from b.{rel})) "
            f"+ (select count(*) from (select {cols} from b.{rel} except all select {cols} from a.{rel}))"
        ).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("table", ["int_ami_read_gaps", "int_ami_install_coverage", "int_ami_bill_usage",
                                   "int_delivery_outcomes", "int_rejected_rows", "int_ami_rejected_reads",
                                   "int_survey_candidates", "int_survey_selection"])
def test_the_incremental_tables_equal_a_full_rebuild(steady, table):
    assert differences(steady["full"], steady["inc"], table) == 0


def test_the_published_marts_equal_a_full_rebuild(steady):
    diffs = mart_differences(steady["full_db"], steady["inc_db"])
    assert "fct_ami_usage_match" in diffs
    assert all(n == 0 for n in diffs.values()), diffs


def test_the_carved_gaps_are_the_hand_derived_ones(steady):
    roles = steady["roles"]
    gaps = query(steady["inc"], "select meter_id, gap_start_date, gap_end_date, gap_days "
                                "from intermediate.int_ami_read_gaps")
    got = {(r.meter_id, r.gap_start_date.date() if hasattr(r.gap_start_date, "date") else r.gap_start_date,
            r.gap_end_date.date() if hasattr(r.gap_end_date, "date") else r.gap_end_date, int(r.gap_days))
           for r in gaps.itertuples()}
    expected = {
        (roles["A"], day(24), day(23), 2), (roles["A"], day(21), day(18), 4),
        (roles["D"], day(27), day(23), 5),
        (roles["B"], day(2), day(0), 3),
        (roles["C"], day(3), day(1), 3),
        (roles["E"], START, END, (END - START).days + 1),
    }
    mine = {g for g in got if g[0] in roles.values()}
    assert mine == expected


def test_the_attribution_recomputed_only_the_days_staging_wrote_and_the_lookback(steady):
    # the scheduled run's attribution (cx_change_plan): the read days of the staged
    # rows it wrote (the last day, A's late read of end-22, and whatever else the last
    # day's delivery touched), and the lookback end-7 .. end; no other day
    written = query(steady["inc"], "select read_date from intermediate.int_ami_reads_attributed "
                                   "where loaded_at = (select max(loaded_at) from intermediate.int_ami_reads_attributed) "
                                   "group by 1")
    staged = query(steady["inc"], "select read_date from staging.stg_cis__ami_daily_reads "
                                  "where loaded_at = (select max(loaded_at) from staging.stg_cis__ami_daily_reads) "
                                  "group by 1")
    as_dates = lambda frame: {d.date() if hasattr(d, "date") else d for d in frame.read_date}  # noqa: E731
    lookback = {day(k) for k in range(0, 8)}
    assert day(22) in as_dates(staged)
    assert as_dates(written) == as_dates(staged) | lookback
    assert len(as_dates(written)) < (END - START).days + 1


def test_the_scheduled_run_kept_what_the_last_day_did_not_reach(steady):
    # R = end-22 (A's late read): the gaps ending before end-23 and the bills
    # ending before end-22 (unless changed) keep the first run's stamp
    gaps = query(steady["inc"], "select loaded_at, min(gap_end_date) as first_end, max(gap_end_date) as last_end, "
                                "count(*) as n from intermediate.int_ami_read_gaps group by 1 order by 1")
    assert len(gaps) == 2, gaps
    first, second = gaps.iloc[0], gaps.iloc[1]
    assert first.last_end.date() < day(23) <= second.first_end.date()
    bills = query(steady["inc"], "select loaded_at, max(service_period_end) as last_end, "
                                 "min(service_period_end) as first_end, count(*) as n "
                                 "from intermediate.int_ami_bill_usage group by 1 order by 1")
    assert len(bills) == 2, bills
    # (a bill ending earlier is recomputed too when its row changed, e.g. a rebill
    # arriving marks it corrected)
    assert bills.iloc[0].last_end.date() < day(22) <= bills.iloc[1].last_end.date()
    assert bills.iloc[0].n > bills.iloc[1].n


def test_the_delivery_accounts_recounted_only_the_deliveries_staging_wrote(steady):
    # int_delivery_outcomes and int_rejected_rows (cx_change_plan over the staged
    # rows' stamps): the scheduled run recounted exactly the deliveries staging
    # wrote in it (the last day's of every folder export, and whatever staging
    # rewrote with them); every other delivery kept the first run's count
    from cx_warehouse.contract import load_contract

    inc = steady["inc"]
    stamp = query(inc, "select max(loaded_at) as s from staging.stg_cis__ami_daily_reads").s[0]
    staged = " union all ".join(
        f"select '{e.name}' as source_file, source_delivery, loaded_at from staging.stg_cis__{e.name[4:]}"
        for e in load_contract())
    pairs = lambda frame: {(r.source_file, r.source_delivery) for r in frame.itertuples()}  # noqa: E731
    written = pairs(query(inc, f"select distinct source_file, source_delivery from ({staged}) where loaded_at = ?",
                          [stamp]))
    every = pairs(query(inc, f"select distinct source_file, source_delivery from ({staged})"))
    recounted = query(inc, "select source_file, source_delivery, loaded_at = ? as now "
                           "from intermediate.int_delivery_outcomes", [stamp])
    assert ("raw_ami_daily_reads", f"{END}.parquet") in written
    assert pairs(recounted[recounted.now]) == written
    assert pairs(recounted[~recounted.now]) == every - written != set()
    rejected = query(inc, "select source_file, source_delivery, loaded_at = ? as now "
                          "from intermediate.int_rejected_rows", [stamp])
    assert pairs(rejected[rejected.now]) <= written
    assert not pairs(rejected[~rejected.now]) & written
    # the reads' own rejected rows (int_ami_rejected_reads), likewise
    reads = query(inc, "select 'raw_ami_daily_reads' as source_file, source_delivery, loaded_at = ? as now "
                       "from intermediate.int_ami_rejected_reads", [stamp])
    assert pairs(reads[reads.now]) <= written
    assert not pairs(reads[~reads.now]) & written
    assert len(reads[~reads.now]) > 0


def test_a_parquet_export_without_a_column_that_may_be_absent_loads_it_empty(steady):
    customers = query(steady["full"], "select count(*) as n, count(survey_opt_out) as opted "
                                      "from staging.stg_cis__customers")
    assert customers.n[0] > 0 and customers.opted[0] == 0


# the dimension exports arrive as one file each, unchanged by the last day
UNCHANGED = ("raw_accounts", "raw_customers", "raw_delivery_preferences", "raw_meter_installs", "raw_portal_users")


def test_the_day_runs_only_the_nodes_downstream_of_the_exports_it_changed(steady):
    # the second run into the state, with the same settings: only the exports with a
    # delivery of the last day have anything new (the published marts still equal a
    # full rebuild: test_the_published_marts_equal_a_full_rebuild)
    out = steady["day"].stdout
    assert "exports changed since the last publish" in out, out[-3000:]
    changed = out.split("exports changed since the last publish (", 1)[1].split(")", 1)[0].split(", ")
    assert "raw_ami_daily_reads" in changed
    assert not set(UNCHANGED) & set(changed)
    tested = query(steady["inc"], """
        select invocation_id, count(*) filter (where tested_node in ({}) and test_name not like 'assert_%') as unchanged_exports,
               count(*) filter (where tested_node like '%stg_cis__ami_daily_reads') as reads, count(*) as tests
        from dq_runtime.test_results group by invocation_id order by min(run_started_at)""".format(
        ", ".join(f"'model.cx_warehouse.stg_cis__{e[4:]}'" for e in UNCHANGED)))
    first, day = tested.iloc[0], tested.iloc[-1]
    assert len(tested) == 2 and first.unchanged_exports > 0 and first.reads > 0
    # no test attached to an unchanged export's staging model ran; the day's exports' tests did
    # (the singular assert_* tests read every export: they ran, their other parents changed)
    assert day.unchanged_exports == 0 and day.reads > 0 and day.tests < first.tests


def test_the_day_computed_again_only_the_candidates_whose_sources_it_wrote(steady):
    # int_survey_candidates on a scheduled run with the accounts unchanged
    # (survey_candidates_plan): the payments and service orders staged in the day
    # (the last day's and the re-sent delivery's), every contact (int_contacts has no
    # stamp), no bill (int_bills was not built again); the rest keep the first run's stamp
    inc = steady["inc"]
    stamp = query(inc, "select max(loaded_at) as s from intermediate.int_survey_candidates").s[0]
    written = query(inc, """
        select c.trigger_type, count(*) as n,
               count(*) filter (where c.trigger_type = 'payment' and c.trigger_id not in (
                   select payment_id from staging.stg_cis__payments where loaded_at = ?)) as payments_not_staged_now,
               count(*) filter (where c.trigger_type = 'service_order' and c.trigger_id not in (
                   select service_order_id from staging.stg_cis__service_orders where loaded_at = ?)) as orders_not_staged_now
        from intermediate.int_survey_candidates as c where c.loaded_at = ? group by 1""", [stamp, stamp, stamp])
    by_kind = {r.trigger_type: r for r in written.itertuples()}
    assert "bill" not in by_kind
    assert by_kind["payment"].n > 0 and by_kind["payment"].payments_not_staged_now == 0
    assert by_kind.get("service_order") is None or by_kind["service_order"].orders_not_staged_now == 0
    contacts = query(inc, "select count(*) as n from intermediate.int_survey_candidates where trigger_type = 'contact'")
    assert by_kind["contact"].n == contacts.n[0]
    kept = query(inc, "select count(*) as n from intermediate.int_survey_candidates where loaded_at < ?", [stamp])
    assert kept.n[0] > 0
    # the payment the re-sent delivery no longer holds: a candidate after the first run, none now
    before = steady["candidates_before"]
    dropped = steady["dropped_payment"]
    assert ((before.trigger_type == "payment") & (before.trigger_id == dropped)).sum() == 1
    now = query(inc, "select count(*) as n from intermediate.int_survey_selection "
                     "where trigger_type = 'payment' and trigger_id = ?", [dropped])
    assert now.n[0] == 0


def test_a_delivery_re_sent_empty_leaves_staging_and_the_delivery_accounts(steady):
    # its older rows go (cis_retire_emptied_deliveries, cx_retire_recounted_deliveries
    # reading the manifest's re-listed files), as a full build of the empty file holds none
    for db in (steady["inc"], steady["full"]):
        held = query(db, "select (select count(*) from staging.stg_cis__payments where source_delivery = $1) "
                         "+ (select count(*) from intermediate.int_delivery_outcomes "
                         "   where source_file = 'raw_payments' and source_delivery = $1) as n", [steady["emptied"]])
        assert held.n[0] == 0
    listed = query(steady["inc"], "select count(*) as n from cis.deliveries "
                                  "where export_name = 'raw_payments' and source_delivery = ?", [steady["emptied"]])
    assert listed.n[0] == 1
