"""The Great Expectations gate (cx_warehouse/gx_checks.py): what it checks, and
that what it no longer repeats is caught by dbt.

A tiny DuckDB warehouse (schema marts, with the dq_* tables staging feeds) and
a tiny landing folder of the 14 CIS exports are written in a temporary
directory. The gate must pass on them as they are, and fail - naming the
expectation and the table, and nothing else - when one defect is introduced.
On the sample's real build (slow), the gate passes, and the faults it used to
look for itself (accepted values, keys, ratio bounds, reconciliation) make
dbt's own tests fail.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from cx_warehouse import contract
from cx_warehouse import gx_checks as gxc
from cx_warehouse.pipeline import landing_deliveries

from _builds import SAMPLE

MARTS = gxc.MARTS_SUITE
RAW = gxc.RAW_SUITE

# ---------------------------------------------------------------------------
# Hand-made data
# ---------------------------------------------------------------------------
RAW_FILES = {
    "raw_customers": """customer_id,full_name,email,phone,birth_date
C1,Ann Lee,ann@example.com,(555) 201-0001,1950-02-28
C2,Bob Ray,,555.201.0002,
""",
    "raw_accounts": """account_id,customer_id,premise_id,account_class,rate_code,service_area,opened_date,closed_date
A1,C1,P1,residential,RES,NORTH,2020-01-01,
A2,C2,P2,commercial,COM,SOUTH,2020-01-01,2024-06-01
""",
    "raw_meter_installs": """meter_id,premise_id,installed_date,removed_date
M1,P1,2020-01-01,
""",
    "raw_ami_daily_reads": """meter_id,read_date,kwh,read_quality
M1,2024-01-01,12.5,actual
M1,2024-01-02,11,estimated
""",
    "raw_billing_runs": """billing_run_id,run_date,bill_cycle
R1,2024-01-31,C01
""",
    "raw_bills": """bill_id,account_id,billing_run_id,bill_date,service_period_start,service_period_end,billed_kwh,amount_due,is_estimated,corrects_bill_id
B1,A1,R1,2024-01-31,2024-01-01,2024-01-30,300,45.50,false,
B2,A2,R1,2024-01-31,2024-01-01,2024-01-30,900,-12.00,true,
B3,A1,R1,2024-02-05,2024-01-01,2024-01-30,310,47.10,false,B1
""",
    "raw_billing_exceptions": """exception_id,billing_run_id,bill_id,account_id,exception_type,raised_at,resolved_at
E1,R1,B2,A2,high_usage,2024-01-31 08:00:00,
""",
    "raw_payments": """payment_id,account_id,paid_at,amount,payment_channel
Y1,A1,2024-02-10 12:00:00,45.50,portal
""",
    "raw_service_orders": """service_order_id,account_id,order_type,status,created_at,completed_at
S1,A1,investigation,completed,2024-01-05 09:00:00,2024-01-06 10:00:00
""",
    "raw_contacts": """contact_id,ticket_id,account_id,caller_phone,channel,reason_code,started_at,agent_id,talk_seconds,hold_seconds,wrap_seconds,resolution_status
K1,T1,A1,,phone,high_bill,2024-02-01 09:00:00,G1,300,20,60,resolved
K2,,,555-201-0002,ivr,outage,2024-02-02 10:00:00,,,,,resolved
""",
    "raw_portal_users": """portal_user_id,account_id,email,registered_at
U1,A1,ann@example.com,2023-05-01 08:00:00
""",
    "raw_portal_events": """event_id,portal_user_id,event_at,channel,event_type
V1,U1,2024-02-10 11:59:00,web,make_payment
""",
    "raw_delivery_preferences": """account_id,delivery_method,effective_date
A1,ebill,2023-01-01
""",
    "raw_surveys": """survey_id,account_id,trigger_type,trigger_id,sent_at,responded_at,score
Q1,A1,bill,B1,2024-02-01 10:00:00,2024-02-01 11:00:00,5
Q2,A1,payment,Y1,2024-02-11 10:00:00,,
""",
}

METRICS = ["csat", "first_contact_resolution", "self_service_adoption", "bill_accuracy",
           "average_handle_time", "ebill_adoption", "inbound_contact_rate"]

MART_SQL = [
    "create schema marts",
    # Every metric for segment all at every grain; months Jan..Mar 2024; plus one segment row.
    f"""create table marts.fct_cx_metrics as
    with m(metric_name) as (values {", ".join(f"('{m}')" for m in METRICS)}),
    p(period_grain, period_start) as (values
        ('day', date '2024-01-02'), ('week', date '2024-01-01'),
        ('month', date '2024-01-01'), ('month', date '2024-02-01'), ('month', date '2024-03-01'))
    select
        m.metric_name::varchar as metric_name, p.period_grain::varchar as period_grain,
        p.period_start::date as period_start,
        'all'::varchar as segment_type, 'all'::varchar as segment_value,
        (case when m.metric_name = 'average_handle_time' then 600 else 3 end)::double as numerator,
        (case when m.metric_name = 'average_handle_time' then 2 else 4 end)::bigint as denominator,
        (case when m.metric_name = 'average_handle_time' then 300 else 0.75 end)::double as metric_value,
        null::double as prior_year_value, null::double as yoy_change,
        (m.metric_name = 'first_contact_resolution' and p.period_start = date '2024-03-01') as is_provisional
    from m cross join p
    union all
    select 'csat', 'month', date '2024-01-01', 'account_class', 'residential', 1, 2, 0.5, null, null, false
    union all
    select 'average_handle_time', 'month', date '2024-01-01', 'contact_reason', 'high_bill', 900, 3, 300, null, null, false""",
    """create table marts.fct_csat_rolling_13w (
        week_start date, segment_type varchar, segment_value varchar,
        numerator_13w double, denominator_13w bigint, csat_13w double)""",
    """insert into marts.fct_csat_rolling_13w values
        ('2024-01-01', 'all', 'all', 3, 4, 0.75),
        ('2024-01-08', 'account_class', 'residential', 1, 2, 0.5)""",
    """create table marts.fct_bill_accuracy_by_billing_run (
        billing_run_id varchar, run_date date, bills bigint, accurate_bills bigint,
        exceptions bigint, bill_accuracy double)""",
    """insert into marts.fct_bill_accuracy_by_billing_run values
        ('R1', '2024-01-31', 2, 1, 1, 0.5), ('R2', '2024-02-29', 0, 0, 1, null)""",
    """create table marts.dim_accounts (
        account_id varchar, customer_id varchar, premise_id varchar, account_class varchar,
        rate_code varchar, service_area varchar, opened_date date, closed_date date,
        is_active_on_as_of_date boolean, age_band_on_as_of_date varchar,
        delivery_method_on_as_of_date varchar, is_portal_registered boolean, has_email boolean,
        as_of_date date)""",
    """insert into marts.dim_accounts values
        ('A1', 'C1', 'P1', 'residential', 'RES', 'NORTH', '2020-01-01', null, true, '65+', 'ebill', true, true, '2024-03-15'),
        ('A2', 'C2', 'P2', 'commercial', 'COM', 'SOUTH', '2020-01-01', '2024-06-01', true, 'n/a', 'paper', false, false, '2024-03-15')""",
    """create table marts.dq_rejected_rows (
        source_file varchar, source_delivery varchar, source_line integer, rejected_row_id varchar, primary_key_value varchar,
        reject_reason varchar, raw_row varchar, raw_copies bigint)""",
    """insert into marts.dq_rejected_rows values
        ('raw_bills', 'raw_bills.csv', null, '69d39450a2e0194de77810a7f7081cc8', 'B9', 'not a valid date: bill_date',
         '{"bill_id":"B9","bill_date":"2024-13-01","amount_due":"45.5"}', 1)""",
    """create table marts.dq_row_reconciliation (
        source_file varchar, deliveries bigint, raw_rows bigint, kept_rows bigint, duplicate_rows bigint,
        rejected_rows bigint, malformed_rows bigint, superseded_rows bigint)""",
]


def _reconciliation_rows() -> str:
    rows = []
    for export in contract.load_contract():
        if export.name == "raw_bills":
            rows.append(f"('{export.name}', 2, 5, 2, 1, 1, 0, 1)")
        else:
            rows.append(f"('{export.name}', 1, 3, 3, 0, 0, 0, 0)")
    return "insert into marts.dq_row_reconciliation values " + ", ".join(rows)


DQ_LOAD_DELIVERIES = """create table marts.dq_load_deliveries (
    source_file varchar, source_delivery varchar, delivery_fingerprint varchar, raw_rows bigint,
    kept_rows bigint, duplicate_rows bigint, rejected_rows bigint, malformed_rows bigint, superseded_rows bigint)"""


def build_warehouse(path: Path, raw: Path, *defects: str) -> Path:
    """The marts of MART_SQL, the metric list, and one dq_load_deliveries row per
    delivery of the landing folder `raw` (its fingerprint as staging records it)."""
    con = duckdb.connect(str(path))
    try:
        for sql in MART_SQL:
            con.execute(sql)
        con.execute(_reconciliation_rows())
        con.execute("create schema reference")
        con.execute("create table reference.metric_targets as select * from (values "
                    + ", ".join(f"('{m}')" for m in METRICS) + ") as t (metric_name)")
        con.execute(DQ_LOAD_DELIVERIES)
        for d in landing_deliveries(raw):
            path_ = raw / d["source_file"] / d["source_delivery"]
            text = (path_ if path_.is_file() else raw / d["source_delivery"]).read_text()
            rows = text.count("\n") - 1
            con.execute("insert into marts.dq_load_deliveries values (?, ?, ?, ?, ?, 0, 0, 0, 0)",
                        [d["source_file"], d["source_delivery"], d["delivery_fingerprint"], rows, rows])
        for sql in defects:
            con.execute(sql)
    finally:
        con.close()
    return path


def write_raw(directory: Path, **replaced: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in {**RAW_FILES, **replaced}.items():
        (directory / f"{name}.csv").write_text(text, encoding="utf-8")
    return directory


def failing(outcome: gxc.CheckpointOutcome) -> set[tuple[str, str, str, str | None]]:
    return {(o.suite, o.table, o.expectation_type, o.column) for o in outcome.failures}


def failure(outcome: gxc.CheckpointOutcome, table: str, check: str) -> gxc.ExpectationOutcome:
    (found,) = [o for o in outcome.failures if o.table == table and o.check == check]
    return found


@pytest.fixture
def frames_seen(monkeypatch):
    """(suite, table, check, rows) of every frame handed to GX."""
    seen: list[tuple] = []
    run = gxc.run_batches

    def spy(batches, *args, **kwargs):
        def each():
            for b in batches:
                seen.append((b.suite, b.table, b.check, len(b.frame)))
                yield b
        return run(each(), *args, **kwargs)

    monkeypatch.setattr(gxc, "run_batches", spy)
    return seen


# ---------------------------------------------------------------------------
# The checkpoint on hand-made data
# ---------------------------------------------------------------------------
def test_clean_data_passes_both_suites_cli_exits_0(tmp_path, capsys):
    raw = write_raw(tmp_path / "raw")
    db = build_warehouse(tmp_path / "wh.duckdb", raw)
    results = tmp_path / "results"
    code = gxc.main(["--duckdb", str(db), "--raw-dir", str(raw), "--results-dir", str(results), "--suite", "all"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED - 0 of" in out and "\nFAIL" not in out
    doc = json.loads((results / "checkpoint_outcome.json").read_text())
    assert doc["success"] is True
    checks = {(r["suite"], r["table"], r["check"]) for r in doc["results"]}
    assert not any(t.startswith("raw_") for _, t, _ in checks)  # the rows each rule rejects: a dbt test now
    assert {(RAW, "landing folder", "deliveries"), (MARTS, "fct_cx_metrics", "rules"),
            (MARTS, "fct_csat_rolling_13w", "rules"), (MARTS, "fct_bill_accuracy_by_billing_run", "rules"),
            (MARTS, "dim_accounts", "text values"), (MARTS, "dq_rejected_rows", "column names")} <= checks
    # every rule of gx/checkpoint.yml ran on its table (none "cannot be checked")
    rules = [r for r in doc["results"] if r["check"] == "rules"]
    configured = sum(len(s.get("rows", [])) + len(s.get("queries", []))
                     for s in gxc.load_config()["marts"]["rules"].values())
    assert len(rules) == configured and all(r["element_count"] > 0 for r in rules)
    # one JSON validation result per batch, plus the outcome
    assert len(doc["result_files"]) == 4
    assert all((results / name).is_file() for name in doc["result_files"])


MART_DEFECTS = [
    # a year-on-year change on a week row (only month rows carry one)
    "update marts.fct_cx_metrics set yoy_change = 0.1 "
    "where metric_name = 'csat' and period_grain = 'week' and segment_type = 'all'",
    # a missing month (February) for ebill_adoption
    "delete from marts.fct_cx_metrics where metric_name = 'ebill_adoption' and period_grain = 'month' "
    "and period_start = '2024-02-01'",
    # a mart no yml knows about yet (found through information_schema) with a column named email
    "create table marts.fct_new_thing (account_id varchar, email varchar, has_email boolean)",
    "insert into marts.fct_new_thing values ('A1', null, true)",
    # a phone number in a text column
    "update marts.dim_accounts set service_area = '555.201.0002' where account_id = 'A2'",
]


def test_mart_defects_fail_naming_expectation_and_table(tmp_path):
    db = build_warehouse(tmp_path / "wh.duckdb", write_raw(tmp_path / "raw"), *MART_DEFECTS)
    results = tmp_path / "results"
    outcome = gxc.run_checkpoint(db, None, results, suites="marts")
    assert not outcome.success
    assert failing(outcome) == {
        (MARTS, "fct_cx_metrics", "expect_column_values_to_be_between", "yoy_change"),
        (MARTS, "fct_cx_metrics", "expect_column_values_to_be_between", "period_start"),
        (MARTS, "fct_new_thing", "expect_column_values_to_not_match_regex", "column_name"),
        (MARTS, "dim_accounts", "expect_column_values_to_not_match_regex", "value"),
    }
    week, = [o for o in outcome.failures if o.column == "yoy_change"]
    assert week.unexpected_count == 1 and "csat|week|2024-01-01|all|all" in week.details
    month, = [o for o in outcome.failures if o.column == "period_start"]
    assert month.description.startswith("no missing month")
    assert month.unexpected_count == 1 and "ebill_adoption/2024-02" in month.details
    email = failure(outcome, "fct_new_thing", "column names")
    assert email.unexpected_count == 1 and "fct_new_thing.email" in email.details  # has_email is fine
    phone = failure(outcome, "dim_accounts", "text values")
    assert "phone" in phone.description and "dim_accounts.service_area" in phone.details

    summary = gxc.format_summary(outcome)
    lines = summary.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("STATUS"))
    fails = lines[header + 2: header + 6]
    assert all(line.startswith("FAIL") for line in fails) and lines[header + 6].startswith("PASS")
    joined = "\n".join(fails)
    for text in ["fct_cx_metrics (rules)", "expect_column_values_to_be_between(yoy_change)",
                 "fct_new_thing (column names)", "dim_accounts (text values)",
                 "expect_column_values_to_not_match_regex(value)"]:
        assert text in joined, text
    # The personal value itself is never printed nor written out.
    assert "555.201.0002" not in summary
    assert not any("555.201.0002" in p.read_text() for p in results.glob("*.json"))


def test_an_unstaged_or_changed_delivery_fails_the_gate(tmp_path):
    raw = write_raw(tmp_path / "raw")
    db = build_warehouse(tmp_path / "wh.duckdb", raw,
                         # a delivery staging never loaded, and one loaded in an earlier version
                         "delete from marts.dq_load_deliveries where source_file = 'raw_payments'",
                         "update marts.dq_load_deliveries set delivery_fingerprint = '1-2' where source_file = 'raw_accounts'")
    outcome = gxc.run_checkpoint(db, raw, tmp_path / "results", suites="raw")
    assert failing(outcome) == {
        (RAW, "landing folder", "expect_column_pair_values_to_be_equal", "delivery_fingerprint, staged_fingerprint")}
    landing = failure(outcome, "landing folder", "deliveries")
    assert "raw_payments/raw_payments.csv" in landing.details and "raw_accounts/raw_accounts.csv" in landing.details
    assert landing.unexpected_count == 2
    summary = gxc.format_summary(outcome, failures_only=True)
    assert "landing folder (deliveries)" in summary and "PASS" not in summary.split("STATUS", 1)[1]


def test_a_run_validates_only_the_deliveries_it_loads(tmp_path, frames_seen):
    raw = write_raw(tmp_path / "raw")
    (raw / "raw_bills.csv").unlink()
    (raw / "raw_bills").mkdir()
    (raw / "raw_bills" / "2024-01-31.csv").write_text(RAW_FILES["raw_bills"])
    (raw / "raw_bills" / "2024-02-29.csv").write_text(RAW_FILES["raw_bills"])
    # the older delivery was staged in an earlier version
    db = build_warehouse(tmp_path / "wh.duckdb", raw, "update marts.dq_load_deliveries set delivery_fingerprint = "
                         "'1-2' where source_delivery = '2024-01-31.csv'")
    new = gxc.run_checkpoint(db, raw, tmp_path / "new", suites="raw",
                             only_deliveries={"raw_bills": {"2024-02-29.csv"}})
    assert new.success, gxc.format_summary(new, failures_only=True)
    assert {(t, n) for _, t, _, n in frames_seen} == {("landing folder", 1)}
    everything = gxc.run_checkpoint(db, raw, tmp_path / "all", suites="raw")
    landing = failure(everything, "landing folder", "deliveries")
    assert landing.unexpected_count == 1 and "raw_bills/2024-01-31.csv" in landing.details


def test_a_large_mart_reaches_gx_as_counts_and_candidates_only(tmp_path, frames_seen):
    db = build_warehouse(tmp_path / "wh.duckdb", write_raw(tmp_path / "raw"), *[
        "insert into marts.dim_accounts select concat('X', i), concat('C', i), concat('P', i), 'residential', 'RES', 'NORTH', "
        "'2020-01-01', null, true, '35-49', 'ebill', false, true, '2024-03-15' from range(200000) t(i)",
        "update marts.dim_accounts set customer_id = 'ann@example.com' where account_id = 'X123'"])
    outcome = gxc.run_checkpoint(db, None, tmp_path / "results", suites="marts")
    assert failing(outcome) == {(MARTS, "dim_accounts", "expect_column_values_to_not_match_regex", "value")}
    assert "ann@example.com" not in gxc.format_summary(outcome)
    # the rules reach GX as one row each, the text values as the few e-mail- or phone-like ones
    assert max(rows for *_, rows in frames_seen) < 100, frames_seen
    one_date = next(o for o in outcome.results if o.description == "one as-of date")
    assert one_date.success and one_date.element_count == 200002


def test_the_gate_cannot_run_without_its_inputs_exit_2(tmp_path, capsys):
    raw = write_raw(tmp_path / "raw")
    assert gxc.main(["--duckdb", str(tmp_path / "none.duckdb"), "--raw-dir", str(raw),
                     "--results-dir", str(tmp_path / "r")]) == 2
    db = build_warehouse(tmp_path / "wh.duckdb", raw)
    assert gxc.main(["--duckdb", str(db), "--raw-dir", str(tmp_path / "nowhere"),
                     "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "DuckDB warehouse not found" in err and "raw export directory not found" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------
# Helpers (no GX run)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    "(555) 010-2345", "555.010.2345", "555-010-2345", "+1 555 010 2345", "+15550102345",
    '{"phone":"5552012345"}', "call 555 201 2345 today"])
def test_phone_regex_finds_phones(value):
    assert re.search(gxc.load_config()["personal_data"]["phone_regex"], value)


@pytest.mark.parametrize("value", [
    "2024-01-15", "2024-01-15 09:00:00", "A000123", "M1|2024-01-02", "35-49", "65+",
    "69d39450a2e0194de77810a7f7081cc8", "1234567.89", '{"kwh":"-1","amount_due":"45.5"}', "0012345678"])
def test_phone_regex_ignores_ids_dates_and_amounts(value):
    assert not re.search(gxc.load_config()["personal_data"]["phone_regex"], value)


def test_email_regex():
    rx = gxc.load_config()["personal_data"]["email_regex"]
    assert re.search(rx, '{"email":"ann.lee7@mail.example.com"}')
    assert not re.search(rx, "missing required value: email")


def test_personal_column_names():
    rx = gxc.load_config()["personal_data"]["column_name_regex"]
    for name in ["full_name", "email", "customer_email", "phone", "caller_phone", "birth_date", "EMAIL"]:
        assert re.search(rx, name), name
    for name in ["has_email", "age_band_on_as_of_date", "customer_id", "channel", "email_count"]:
        assert not re.search(rx, name), name
    assert {("raw_customers", "birth_date"), ("raw_contacts", "caller_phone")} <= gxc.personal_data_columns()


def test_summary_lists_failures_first():
    ok = gxc.ExpectationOutcome(MARTS, "a_table", "rules", "expect_x", "c", 0, True)
    bad = gxc.ExpectationOutcome(RAW, "z_table", "rules", "expect_y", "d", 3, False, details="at rule z")
    text = gxc.format_summary(gxc.CheckpointOutcome(False, [ok, bad]))
    lines = text.splitlines()
    assert "FAILED - 1 of 2" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.startswith("STATUS"))
    assert lines[header + 2].startswith("FAIL") and "z_table" in lines[header + 2] and " 3 " in lines[header + 2]
    assert lines[header + 3].startswith("PASS")


def test_re2_superset_of_the_phone_regex():
    rx = gxc.load_config()["personal_data"]["phone_regex"]
    loose = gxc.re2_superset(rx)
    assert "(?<" not in loose and "(?!" not in loose and "(?=" not in loose
    con = duckdb.connect()
    for value in ["(555) 010-2345", "555.010.2345", "+15550102345", "call 555 201 2345 today", "x5552012345y"]:
        assert con.execute("select regexp_matches($1, $2)", [value, loose]).fetchone()[0], value


# ---------------------------------------------------------------------------
# On a real build: the gate passes, and dbt's tests catch what it no longer repeats
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_the_sample_build_passes_the_gate(sample_build, tmp_path):
    """What `make gx` runs, and the real marts every configured rule reads."""
    outcome = gxc.run_checkpoint(sample_build["db"], sample_build.get("raw", SAMPLE), tmp_path / "results")
    assert outcome.success, gxc.format_summary(outcome, failures_only=True)
    assert not [o for o in outcome.results if o.check == "rules" and not o.element_count]
    # the raw suite: every delivery of the landing folder (the sample: one file per export) staged as on disk
    assert [(o.table, o.check, o.element_count) for o in outcome.results if o.suite == RAW] == [
        ("landing folder", "deliveries", 14)]


# A fault the gate used to look for itself, planted in a copy of the sample
# build, and the dbt test (kind, model, column) that now fails on it.
DBT_CATCHES = [
    ("update marts.fct_cx_metrics set metric_name = 'nps' where rowid = 0",
     ("accepted_values", "fct_cx_metrics", "metric_name")),
    ("insert into marts.fct_cx_metrics select * from marts.fct_cx_metrics where rowid = 1",
     ("unique_combination_of_columns", "fct_cx_metrics", None)),
    # a share above 1: numerator > denominator, the value consistent with both
    ("update marts.fct_cx_metrics set numerator = denominator + 1, metric_value = (denominator + 1) / denominator "
     "where rowid = (select max(rowid) from marts.fct_cx_metrics where metric_name = 'csat')",
     ("ratio_invariants", "fct_cx_metrics", None)),
    ("update marts.fct_csat_rolling_13w set csat_13w = 1.5 where rowid = 0",
     ("ratio_invariants", "fct_csat_rolling_13w", None)),
    ("update marts.dim_accounts set account_class = 'residental' where rowid = 0",
     ("accepted_values", "dim_accounts", "account_class")),
    ("insert into marts.dq_row_reconciliation select * from marts.dq_row_reconciliation where rowid = 0",
     ("unique", "dq_row_reconciliation", "source_file")),
    # raw = kept + duplicates + rejected + superseded, per delivery and against the files
    ("update marts.dq_load_deliveries set raw_rows = raw_rows + 1 where source_file = 'raw_bills'",
     ("expression_is_true", "dq_load_deliveries", None)),
    (None, ("assert_every_export_reconciles", None, None)),
]


@pytest.mark.slow
def test_dbt_catches_the_faults_the_gate_no_longer_looks_for(sample_build, tmp_path):
    from cx_warehouse.pipeline import RUN_EXCLUDES, dbt_target_dir, run_dbt

    db = tmp_path / Path(sample_build["db"]).name
    shutil.copy2(sample_build["db"], db)
    con = duckdb.connect(str(db))
    try:
        for sql, _ in DBT_CATCHES:
            if sql:
                con.execute(sql)
        # not_null is a constraint of every enforced mart contract: the database refuses the row
        with pytest.raises(duckdb.ConstraintException):
            con.execute("update marts.fct_cx_metrics set denominator = null where rowid = 0")
    finally:
        con.close()
    raw = sample_build.get("raw", SAMPLE)
    rc = run_dbt(["test", *RUN_EXCLUDES, "--select", "fct_cx_metrics", "fct_csat_rolling_13w", "dim_accounts",
                  "dq_row_reconciliation", "dq_load_deliveries"], db, quiet=True, raw_dir=raw)
    target = dbt_target_dir()
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    failed = set()
    for r in json.loads((target / "run_results.json").read_text())["results"]:
        if r["status"] in ("fail", "error"):
            node = nodes[r["unique_id"]]
            kind = (node.get("test_metadata") or {}).get("name") or node["name"]
            model = (node.get("attached_node") or "").split(".")[-1] or None
            failed.add((kind, model, node.get("column_name")))
    assert rc != 0
    for _, expected in DBT_CATCHES:
        assert expected in failed, (expected, sorted(failed))


def test_the_gate_import_runs_beside_the_build_and_is_done_when_joined():
    # pipeline.build_and_publish starts it before dbt's build and joins it before the gate
    # (DECISIONLOG 140): a fresh process, so that nothing imported Great Expectations before
    import subprocess
    import sys

    code = ("import sys, threading\n"
            "from cx_warehouse.gx_checks import preload_great_expectations\n"
            "assert 'great_expectations' not in sys.modules\n"
            "thread = preload_great_expectations()\n"
            "assert thread.daemon and thread.name == 'gx-preload'\n"
            "thread.join()\n"
            "assert 'great_expectations.expectations' in sys.modules\n"
            "assert 'great_expectations.data_context.types.base' in sys.modules\n"
            "import os; assert os.environ['GX_ANALYTICS_ENABLED'] == 'False'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
