"""The Great Expectations checkpoint (cx_warehouse/gx_checks.py) on hand-made data.

A tiny DuckDB warehouse (schema marts) and a tiny set of the 14 raw CIS exports
are written in a temporary directory. The checkpoint must pass on them as they
are, and fail - naming the expectation and the table, and nothing else - when
one defect is introduced. GX is slow to import, so the checkpoint runs only a
handful of times; the pure helpers are tested without GX.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from cx_warehouse import contract
from cx_warehouse import gx_checks as gxc

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


# The published marts this test knows: other engineers' marts (models/marts/*/)
# are left out so that their contracts need no rows here.
CONTRACT_YMLS = ["models/marts/_marts__models.yml", "models/marts/data_quality/_data_quality__models.yml"]


def _other_published_models(con: duckdb.DuckDBPyConnection) -> None:
    """Empty tables (contract columns) for models added to CONTRACT_YMLS after this test was written."""
    existing = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    for name, c in gxc.load_mart_contracts(gxc.PROJECT_DIR, CONTRACT_YMLS).items():
        if name not in existing and c.columns:
            cols = ", ".join(f'"{col}" {c.data_types.get(col) or "varchar"}' for col in c.columns)
            con.execute(f'create table marts."{name}" ({cols})')


def build_warehouse(path: Path, *defects: str) -> Path:
    con = duckdb.connect(str(path))
    try:
        for sql in MART_SQL:
            con.execute(sql)
        con.execute(_reconciliation_rows())
        _other_published_models(con)
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


@pytest.fixture(scope="module")
def gx_loaded():
    """Import GX once for the module (slow)."""
    return gxc._gx()


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    cfg = gxc.load_config()
    cfg["marts"]["contract_ymls"] = CONTRACT_YMLS
    path = tmp_path_factory.mktemp("gx") / "checkpoint.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# The checkpoint (three GX runs)
# ---------------------------------------------------------------------------
def test_clean_data_passes_both_suites_cli_exits_0(tmp_path, gx_loaded, config_path, capsys):
    db = build_warehouse(tmp_path / "wh.duckdb")
    raw = write_raw(tmp_path / "raw")
    results = tmp_path / "results"
    code = gxc.main(["--duckdb", str(db), "--raw-dir", str(raw), "--results-dir", str(results),
                     "--config", str(config_path), "--suite", "all"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED - 0 of" in out and "\nFAIL" not in out
    doc = json.loads((results / "checkpoint_outcome.json").read_text())
    assert doc["success"] is True
    checks = {(r["suite"], r["table"], r["check"]) for r in doc["results"]}
    for export in contract.load_contract():
        assert (RAW, export.name, "distinct rows") in checks
    assert {(MARTS, "fct_cx_metrics", "rows"), (MARTS, "fct_cx_metrics", "month coverage"),
            (MARTS, "fct_cx_metrics", "all-segment coverage"), (MARTS, "fct_csat_rolling_13w", "rows"),
            (MARTS, "fct_bill_accuracy_by_billing_run", "rows"), (MARTS, "dim_accounts", "text values"),
            (MARTS, "dq_row_reconciliation", "reconciliation"), (MARTS, "dq_rejected_rows", "column names"),
            (RAW, "raw_bills", "numeric values")} <= checks
    # One JSON validation result per (suite, table, check), plus the outcome.
    assert len(doc["result_files"]) == len(checks)
    assert all((results / name).is_file() for name in doc["result_files"])


MART_DEFECTS = [
    # csat above 1
    "update marts.fct_cx_metrics set metric_value = 1.7 "
    "where metric_name = 'csat' and period_grain = 'month' and period_start = '2024-01-01' and segment_type = 'all'",
    # a missing month (February) for ebill_adoption
    "delete from marts.fct_cx_metrics where metric_name = 'ebill_adoption' and period_grain = 'month' "
    "and period_start = '2024-02-01'",
    # a mart no yml knows about yet (found through information_schema) with a column named email
    "create table marts.fct_new_thing (account_id varchar, email varchar, has_email boolean)",
    "insert into marts.fct_new_thing values ('A1', null, true)",
    # a phone number in a text column
    "update marts.dim_accounts set service_area = '555.201.0002' where account_id = 'A2'",
]


def test_mart_defects_fail_naming_expectation_and_table(tmp_path, gx_loaded, config_path):
    db = build_warehouse(tmp_path / "wh.duckdb", *MART_DEFECTS)
    results = tmp_path / "results"
    outcome = gxc.run_checkpoint(db, None, results, suites="marts", config_path=config_path)
    assert not outcome.success
    assert failing(outcome) == {
        (MARTS, "fct_cx_metrics", "expect_column_values_to_be_between", "metric_value"),
        (MARTS, "fct_cx_metrics", "expect_column_values_to_be_between", "all_segment_rows"),
        (MARTS, "fct_new_thing", "expect_column_values_to_not_match_regex", "column_name"),
        (MARTS, "dim_accounts", "expect_column_values_to_not_match_regex", "value"),
    }
    csat = failure(outcome, "fct_cx_metrics", "rows")
    assert csat.unexpected_count == 1 and "csat|month|2024-01-01|all|all" in csat.details
    month = failure(outcome, "fct_cx_metrics", "month coverage")
    assert month.unexpected_count == 1 and "ebill_adoption/2024-02" in month.details
    email = failure(outcome, "fct_new_thing", "column names")
    assert email.unexpected_count == 1 and "'email'" in email.details  # has_email is fine
    phone = failure(outcome, "dim_accounts", "text values")
    assert "phone" in phone.description and "service_area" in phone.details

    summary = gxc.format_summary(outcome)
    lines = summary.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("STATUS"))
    fails = lines[header + 2: header + 6]
    assert all(line.startswith("FAIL") for line in fails) and lines[header + 6].startswith("PASS")
    joined = "\n".join(fails)
    for text in ["fct_cx_metrics  ", "expect_column_values_to_be_between(metric_value)",
                 "fct_cx_metrics (month coverage)", "fct_new_thing (column names)",
                 "dim_accounts (text values)", "expect_column_values_to_not_match_regex(value)"]:
        assert text in joined, text
    # The personal value itself is never printed nor written out.
    assert "555.201.0002" not in summary
    assert not any("555.201.0002" in p.read_text() for p in results.glob("*.json"))


def test_broken_raw_extract_fails_but_a_rejected_row_does_not(tmp_path, gx_loaded, config_path):
    bills = RAW_FILES["raw_bills"]
    bad_dates = re.sub(r"(B\d,A\d,R\d,)2024-(\d\d)-(\d\d)", r"\g<1>\3/\2/2024", bills)
    assert bad_dates != bills
    payments_without_channel = "payment_id,account_id,paid_at,amount\nY1,A1,2024-02-10 12:00:00,45.50\n"
    q1 = RAW_FILES["raw_surveys"].splitlines()[1]
    one_bad_score = RAW_FILES["raw_surveys"] + f"{q1}\n{q1}\nQ3,A2,bill,B2,2024-02-01 10:00:00,2024-02-01 12:00:00,3.5\n"
    raw = write_raw(tmp_path / "raw", raw_bills=bad_dates, raw_payments=payments_without_channel,
                    raw_surveys=one_bad_score)
    outcome = gxc.run_checkpoint(None, raw, tmp_path / "results", suites="raw", config_path=config_path)
    failed = failing(outcome)
    assert {t for _, t, _, _ in failed} == {"raw_bills", "raw_payments"}
    assert {f for f in failed if f[1] == "raw_bills"} == {
        (RAW, "raw_bills", "expect_column_values_to_match_regex", "bill_date")}
    assert (RAW, "raw_payments", "expect_table_columns_to_match_ordered_list", None) in failed
    # A single defective row (staging rejects it) is counted but tolerated.
    score = next(o for o in outcome.results if o.table == "raw_surveys"
                 and o.expectation_type == "expect_column_values_to_match_regex" and o.column == "score")
    assert score.success and score.unexpected_count == 1
    # Exact duplicate copies (dropped by staging) do not count against the key.
    key = next(o for o in outcome.results if o.table == "raw_surveys"
               and o.expectation_type == "expect_column_values_to_be_unique")
    assert key.success and key.unexpected_count == 0 and key.element_count == 3
    summary = gxc.format_summary(outcome, failures_only=True)
    assert "raw_bills" in summary and "expect_column_values_to_match_regex(bill_date)" in summary
    assert "PASS" not in summary.split("STATUS", 1)[1]


# ---------------------------------------------------------------------------
# Helpers (no GX run)
# ---------------------------------------------------------------------------
def test_mostly_tolerates_a_few_rows_but_not_a_broken_column():
    cfg = {"mostly": 0.95, "tolerated_defective_rows": 2, "mostly_floor": 0.5}
    assert gxc.raw_mostly(10_000, cfg) == 0.95
    assert gxc.raw_mostly(20, cfg) == 0.9
    assert gxc.raw_mostly(3, cfg) == 0.5
    assert gxc.raw_mostly(0, cfg) == 0.95


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


def test_mart_contract_read_from_the_ymls():
    cfg = gxc.load_config()
    contracts = gxc.load_mart_contracts(gxc.PROJECT_DIR, cfg["marts"]["contract_ymls"])
    fct = contracts["fct_cx_metrics"]
    assert fct.columns[:3] == ["metric_name", "period_grain", "period_start"]
    assert "average_handle_time" in fct.accepted_values["metric_name"]
    assert fct.key_columns == ["metric_name", "period_grain", "period_start", "segment_type", "segment_value"]
    assert "denominator" in fct.not_null
    assert contracts["dq_row_reconciliation"].unique == ["source_file"]


def test_summary_lists_failures_first():
    ok = gxc.ExpectationOutcome(MARTS, "a_table", "rows", "expect_x", "c", 0, True)
    bad = gxc.ExpectationOutcome(RAW, "z_table", "rows", "expect_y", "d", 3, False, details="at csv_line 2")
    text = gxc.format_summary(gxc.CheckpointOutcome(False, [ok, bad]))
    lines = text.splitlines()
    assert "FAILED - 1 of 2" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.startswith("STATUS"))
    assert lines[header + 2].startswith("FAIL") and "z_table" in lines[header + 2] and " 3 " in lines[header + 2]
    assert lines[header + 3].startswith("PASS")


# ---------------------------------------------------------------------------
# Large exports and tables: in-database aggregates plus a bounded sample
# ---------------------------------------------------------------------------
def _scaled_config(tmp_path: Path, sample_rows: int) -> Path:
    """The test config with a tiny size threshold, so that the hand-made files
    and tables take the path a million-account warehouse takes."""
    cfg = gxc.load_config()
    cfg["marts"]["contract_ymls"] = CONTRACT_YMLS
    cfg["scale"] = {**(cfg.get("scale") or {}), "sample_rows": sample_rows}
    path = tmp_path / "checkpoint_scaled.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture
def frames_seen(monkeypatch):
    """(suite, table, check, scope, rows) of every frame handed to GX, and the
    exports read whole into pandas."""
    seen: dict[str, list] = {"frames": [], "read_whole": []}
    run = gxc.run_batches

    def spy(batches, *args, **kwargs):
        def each():
            for b in batches:
                seen["frames"].append((b.suite, b.table, b.check, b.scope, len(b.frame)))
                yield b
        return run(each(), *args, **kwargs)

    read = gxc._read_raw

    def spy_read(con, files, columns):
        seen["read_whole"].append(Path(files[0]).stem)
        return read(con, files, columns)

    monkeypatch.setattr(gxc, "run_batches", spy)
    monkeypatch.setattr(gxc, "_read_raw", spy_read)
    return seen


def _bills_rows(n: int, bad_dates: bool = False, duplicate_keys: bool = False) -> str:
    lines = [RAW_FILES["raw_bills"].splitlines()[0]]
    for i in range(n):
        bill = f"B{i // 2 if duplicate_keys else i}"
        date = f"31/01/2024" if bad_dates else "2024-01-31"
        lines.append(f"{bill},A1,R1,{date},2024-01-01,2024-01-30,{300 + i},45.50,false,")
    return "\n".join(lines) + "\n"


def test_large_clean_data_passes_as_aggregates_and_bounded_samples(tmp_path, gx_loaded, frames_seen):
    config = _scaled_config(tmp_path, 20)
    db = build_warehouse(tmp_path / "wh.duckdb")
    raw = write_raw(tmp_path / "raw", raw_bills=_bills_rows(100))
    outcome = gxc.run_checkpoint(db, raw, tmp_path / "results", config_path=config)
    assert outcome.success, gxc.format_summary(outcome, failures_only=True)
    frames = frames_seen["frames"]
    # No table or export larger than the threshold reaches pandas / GX: the
    # samples and whole row frames hold at most 20 rows (aggregates hold one
    # row per rule, derived frames one per metric and period).
    assert all(rows <= 20 for _, _, check, scope, rows in frames
               if scope == "sample" or check in ("rows", "distinct rows")), [f for f in frames if f[4] > 20]
    scopes = {(s, t, c): scope for s, t, c, scope, _ in frames}
    assert scopes[(RAW, "raw_bills", "in-database aggregates")] == "aggregates"
    assert scopes[(RAW, "raw_bills", "distinct rows, sample")] == "sample"
    assert scopes[(RAW, "raw_bills", "numeric values, sample")] == "sample"
    assert scopes[(RAW, "raw_customers", "distinct rows")] == "whole"
    assert scopes[(MARTS, "fct_cx_metrics", "in-database aggregates")] == "aggregates"
    assert scopes[(MARTS, "fct_cx_metrics", "rows, sample")] == "sample"
    assert (MARTS, "fct_cx_metrics", "month coverage") in scopes
    assert "raw_bills" not in frames_seen["read_whole"] and "raw_customers" in frames_seen["read_whole"]
    # The aggregates count every row; the sample is at most the threshold.
    rows = {o.column: o for o in outcome.results if o.table == "raw_bills" and o.scope == "aggregates"}
    assert rows["bill_date"].element_count == 100 and rows["bill_date"].unexpected_count == 0
    doc = json.loads((tmp_path / "results" / "checkpoint_outcome.json").read_text())
    assert {r["scope"] for r in doc["results"]} == {"whole", "aggregates", "sample"}


def test_large_broken_feed_fails_on_aggregates_and_sample(tmp_path, gx_loaded, frames_seen):
    config = _scaled_config(tmp_path, 20)
    raw = write_raw(tmp_path / "raw", raw_bills=_bills_rows(100, bad_dates=True),
                    raw_payments=_payments_with_duplicate_keys(100))
    outcome = gxc.run_checkpoint(None, raw, tmp_path / "results", suites="raw", config_path=config)
    assert not outcome.success
    by = {(o.table, o.scope, o.column): o for o in outcome.failures
          if o.description and "parses as date" in o.description}
    agg = by[("raw_bills", "aggregates", "bill_date")]
    assert agg.unexpected_count == 100 and agg.element_count == 100 and "100 of 100" in agg.details
    assert ("raw_bills", "sample", "bill_date") in by
    keys = [o for o in outcome.failures if o.table == "raw_payments" and o.description == "primary key unique"]
    assert keys and keys[0].scope == "sample"
    assert max(rows for *_, rows in frames_seen["frames"]) <= 20
    summary = gxc.format_summary(outcome, failures_only=True)
    assert "raw_bills (in-database aggregates)" in summary and "raw_bills (distinct rows, sample)" in summary


def _payments_with_duplicate_keys(n: int) -> str:
    lines = [RAW_FILES["raw_payments"].splitlines()[0]]
    lines += [f"Y{i // 2},A1,2024-02-10 12:00:00,{10 + i}.50,portal" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_large_marts_defects_fail_in_database(tmp_path, gx_loaded, frames_seen):
    config = _scaled_config(tmp_path, 1)
    db = build_warehouse(tmp_path / "wh.duckdb", *MART_DEFECTS, *[
        "insert into marts.dq_rejected_rows select * replace ('raw_nope' as source_file, 0 as raw_copies) "
        "from marts.dq_rejected_rows",
        "update marts.dim_accounts set customer_id = 'ann@example.com' where account_id = 'A1'",
        "insert into marts.dq_row_reconciliation select * from marts.dq_row_reconciliation limit 1"])
    outcome = gxc.run_checkpoint(db, None, tmp_path / "results", suites="marts", config_path=config)
    agg = {(o.table, o.column, o.description.split(" (share")[0]): o for o in outcome.failures
           if o.scope == "aggregates"}
    assert agg[("fct_cx_metrics", "metric_value", "metric_value in [0, 1] (every metric but "
                "average_handle_time and inbound_contact_rate)")].unexpected_count == 1
    assert agg[("dq_rejected_rows", "source_file", "a CIS export")].unexpected_count == 1
    assert agg[("dq_rejected_rows", "raw_copies", "raw_copies >= 1")].unexpected_count == 1
    assert agg[("dim_accounts", "service_area", "no phone number in a text value")].unexpected_count == 1
    assert agg[("dim_accounts", "customer_id", "no e-mail address in a text value")].unexpected_count == 1
    assert agg[("dq_row_reconciliation", "source_file", "unique")].unexpected_count == 2
    # The derived checks still see every month, from the few rows they need.
    month = failure(outcome, "fct_cx_metrics", "month coverage")
    assert "ebill_adoption/2024-02" in month.details
    assert all(rows <= 1 for s, t, c, scope, rows in frames_seen["frames"] if scope == "sample")
    summary = gxc.format_summary(outcome)
    assert "555.201.0002" not in summary and "ann@example.com" not in summary
    assert not any("ann@example.com" in p.read_text() for p in (tmp_path / "results").glob("*.json"))


def test_large_export_only_new_deliveries(tmp_path, gx_loaded, frames_seen):
    config = _scaled_config(tmp_path, 20)
    raw = write_raw(tmp_path / "raw")
    (raw / "raw_bills.csv").unlink()
    (raw / "raw_bills").mkdir()
    (raw / "raw_bills" / "raw_bills_2024-01-31.csv").write_text(_bills_rows(100, bad_dates=True))
    (raw / "raw_bills" / "raw_bills_2024-02-29.csv").write_text(_bills_rows(100))
    outcome = gxc.run_checkpoint(None, raw, tmp_path / "results", suites="raw", config_path=config,
                                 only_deliveries={"raw_bills": {"raw_bills_2024-02-29.csv"}})
    assert outcome.success, gxc.format_summary(outcome, failures_only=True)
    tables = {t for s, t, *_ in frames_seen["frames"]}
    assert tables == {"export set", "raw_bills"}
    agg = [o for o in outcome.results if o.table == "raw_bills" and o.scope == "aggregates"
           and o.column == "bill_date"]
    assert agg and agg[0].element_count == 100


def test_re2_superset_of_the_phone_regex():
    rx = gxc.load_config()["personal_data"]["phone_regex"]
    loose = gxc._re2_superset(rx)
    assert "(?<" not in loose and "(?!" not in loose and "(?=" not in loose
    con = duckdb.connect()
    for value in ["(555) 010-2345", "555.010.2345", "+15550102345", "call 555 201 2345 today", "x5552012345y"]:
        assert con.execute("select regexp_matches($1, $2)", [value, loose]).fetchone()[0], value
