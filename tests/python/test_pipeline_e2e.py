"""End to end: `python -m cx_warehouse run` on a generated export set whose seed,
size and dates differ from the committed sample, checked against numbers
computed independently here in pandas from the CSV files and the generator's
manifest of planted defects; and the bad-input paths."""
from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx_warehouse.generator import generate

from _browser import chromium, count_charts, render, tables
from _warehouse import PROJECT, query, run_cli

SAMPLE = PROJECT / "data" / "sample_exports"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    raw = root / "exports"
    manifest = generate(raw, accounts=140, start=date(2023, 3, 1), end=date(2024, 10, 15), seed=2024, defect_rate=0.02)
    db = root / "published" / "cx.duckdb"
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(db))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"raw": raw, "db": db, "manifest": manifest, "stdout": proc.stdout}


def kept(raw: Path, manifest: dict, name: str, key: list[str]) -> pd.DataFrame:
    """The rows the contract keeps, derived from the file and the planted-defect list."""
    df = pd.read_csv(raw / f"{name}.csv", dtype=str, keep_default_na=False).drop_duplicates()
    bad = {d["primary_key"] for d in manifest["defects"] if d["file"] == name and d.get("outcome") != "duplicate"
           and d["kind"] != "exact_duplicate"}
    pk = df[key].agg("|".join, axis=1)
    return df[~pk.isin(bad)].replace({"": None})


def metric(db: Path, name: str, month: str, segment_type="all", segment_value="all") -> pd.Series:
    df = query(db, """select * from marts.fct_cx_metrics where metric_name = ? and period_grain = 'month'
                      and period_start = cast(? as date) and segment_type = ? and segment_value = ?""",
               [name, month, segment_type, segment_value])
    assert len(df) == 1, (name, month, df)
    return df.iloc[0]


def test_every_file_reconciles_with_the_generator_manifest(built):
    rec = query(built["db"], "select * from marts.dq_row_reconciliation").set_index("source_file")
    assert len(rec) == 14
    for fname, expected in built["manifest"]["files"].items():
        name = fname.removesuffix(".csv")
        row = rec.loc[name]
        assert (row.raw_rows, row.kept_rows, row.duplicate_rows, row.rejected_rows) == (
            expected["raw_rows"], expected["kept_rows"], expected["duplicate_rows"], expected["rejected_rows"]), name
        assert row.raw_rows == row.kept_rows + row.duplicate_rows + row.rejected_rows


def test_every_planted_rejection_is_in_dq_rejected_rows_with_a_matching_reason(built):
    rejected = query(built["db"], "select source_file, primary_key_value, reject_reason from marts.dq_rejected_rows")
    reasons = rejected.groupby(["source_file", "primary_key_value"])["reject_reason"].apply(" ; ".join).to_dict()
    words = {
        "missing_required": "missing required value",
        "unparseable": "not a valid",
        "out_of_domain": "outside domain",
        "negative_value": "negative value",
        "score_out_of_range": ("below 1", "above 5", "not a valid integer"),
        "conflicting_duplicate": "conflicting duplicate",
        "completed_at_mismatch": "completed",
    }
    kinds_seen = set()
    for d in built["manifest"]["defects"]:
        if d["kind"] == "exact_duplicate":
            continue
        got = reasons.get((d["file"], d["primary_key"]))
        assert got is not None, d
        expect = words.get(d["kind"])
        if expect:
            assert any(w in got for w in ((expect,) if isinstance(expect, str) else expect)), (d, got)
        if d.get("column") and d["kind"] != "conflicting_duplicate":
            assert d["column"] in got, (d, got)
        kinds_seen.add(d["kind"])
    assert {"missing_required", "unparseable", "out_of_domain", "negative_value", "conflicting_duplicate"} <= kinds_seen


def test_bill_accuracy_matches_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    bills = kept(raw, m, "raw_bills", ["bill_id"])
    exc = kept(raw, m, "raw_billing_exceptions", ["exception_id"])
    bills["accurate"] = ~bills.bill_id.isin(set(exc.bill_id.dropna())) & ~bills.bill_id.isin(set(bills.corrects_bill_id.dropna()))
    bills["month"] = bills.bill_date.str[:7] + "-01"
    for month in ["2023-07-01", "2024-01-01", "2024-09-01"]:
        sub = bills[bills.month == month]
        row = metric(db, "bill_accuracy", month)
        assert row.denominator == len(sub)
        assert row.numerator == sub.accurate.sum()
    runs = query(db, "select * from marts.fct_bill_accuracy_by_billing_run").set_index("billing_run_id")
    per_run = bills.groupby("billing_run_id").agg(bills=("bill_id", "size"), accurate=("accurate", "sum"))
    exc_per_run = exc.groupby("billing_run_id").size()
    for run_id, r in per_run.iterrows():
        if run_id in runs.index:
            assert runs.loc[run_id, "bills"] == r.bills
            assert runs.loc[run_id, "accurate_bills"] == r.accurate
            assert runs.loc[run_id, "exceptions"] == exc_per_run.get(run_id, 0)


def test_csat_and_handle_time_match_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    surveys = kept(raw, m, "raw_surveys", ["survey_id"])
    responses = surveys[surveys.responded_at.notna() & surveys.score.notna()].copy()
    responses["month"] = responses.responded_at.str[:7] + "-01"
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    calls = contacts[(contacts.channel == "phone") & contacts.agent_id.notna() & (contacts.resolution_status != "abandoned")].copy()
    calls["month"] = calls.started_at.str[:7] + "-01"
    calls["handle"] = sum(pd.to_numeric(calls[c]).fillna(0) for c in ["talk_seconds", "hold_seconds", "wrap_seconds"])
    for month in ["2023-11-01", "2024-06-01"]:
        sub = responses[responses.month == month]
        row = metric(db, "csat", month)
        assert row.denominator == len(sub)
        assert row.numerator == (sub.score.astype(int) >= 4).sum()
        sub = calls[calls.month == month]
        row = metric(db, "average_handle_time", month)
        assert row.denominator == len(sub)
        assert row.numerator == pytest.approx(sub.handle.sum())
        assert row.metric_value == pytest.approx(sub.handle.sum() / len(sub))


def test_ebill_adoption_snapshot_matches_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    accounts = kept(raw, m, "raw_accounts", ["account_id"])
    prefs = kept(raw, m, "raw_delivery_preferences", ["account_id", "effective_date"])
    for month, snapshot in [("2023-08-01", "2023-08-31"), ("2024-02-01", "2024-02-29")]:
        active = accounts[(accounts.opened_date <= snapshot) & (accounts.closed_date.isna() | (accounts.closed_date > snapshot))]
        in_force = prefs[prefs.effective_date <= snapshot].sort_values("effective_date").groupby("account_id").last()
        ebill = active.account_id.map(in_force.delivery_method).eq("ebill").sum()
        row = metric(db, "ebill_adoption", month)
        assert row.denominator == len(active)
        assert row.numerator == ebill


def test_first_contact_resolution_matches_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    contacts = contacts[contacts.ticket_id.notna()].copy()
    contacts["t"] = pd.to_datetime(contacts.started_at)
    contacts = contacts.sort_values(["ticket_id", "t", "contact_id"])
    first = contacts.groupby("ticket_id").head(1).set_index("ticket_id")
    eligible = first[first.channel.isin(["phone", "chat", "email", "walk_in"])]
    merged = contacts.merge(first[["t", "contact_id"]], left_on="ticket_id", right_index=True, suffixes=("", "_first"))
    recontacted = set(merged[(merged.contact_id != merged.contact_id_first) & (merged.t > merged.t_first)
                             & (merged.t <= merged.t_first + pd.Timedelta(days=7))].ticket_id)
    resolved = eligible[(eligible.resolution_status == "resolved") & ~eligible.index.isin(recontacted)]
    for month in ["2023-09-01", "2024-03-01"]:
        in_month = eligible[eligible.started_at.str[:7] + "-01" == month]
        row = metric(db, "first_contact_resolution", month)
        assert row.denominator == len(in_month)
        assert row.numerator == resolved.index.isin(in_month.index).sum()


REASONS = ["billing_inquiry", "high_bill", "payment_arrangement", "start_stop_move", "outage", "meter_issue", "other"]
ASSISTED = ["phone", "chat", "email", "walk_in"]


def _active_on(accounts: pd.DataFrame, day: str) -> pd.DataFrame:
    return accounts[(accounts.opened_date <= day) & (accounts.closed_date.isna() | (accounts.closed_date > day))]


def test_inbound_contact_rate_matches_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    accounts = kept(raw, m, "raw_accounts", ["account_id"])
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    contacts["month"] = contacts.started_at.str[:7] + "-01"
    for month, snapshot in [("2023-08-01", "2023-08-31"), ("2024-02-01", "2024-02-29")]:
        sub = contacts[contacts.month == month]  # every channel and status, abandoned included
        active = len(_active_on(accounts, snapshot))
        row = metric(db, "inbound_contact_rate", month)
        assert (row.numerator, row.denominator) == (len(sub), active)
        assert row.metric_value == pytest.approx(len(sub) / active)
        reasons = query(db, """select segment_value, numerator, denominator from marts.fct_cx_metrics
                               where metric_name = 'inbound_contact_rate' and period_grain = 'month'
                               and period_start = cast(? as date) and segment_type = 'contact_reason'""",
                        [month]).set_index("segment_value")
        assert sorted(reasons.index) == sorted(REASONS)  # one row per code, zero contacts included
        assert (reasons.denominator == active).all()
        for code in REASONS:
            assert reasons.loc[code, "numerator"] == (sub.reason_code == code).sum(), code
    # the last month is partial: its snapshot is the as-of date
    as_of = query(db, "select max(as_of_date) as d from marts.dim_accounts").d[0].strftime("%Y-%m-%d")
    last = as_of[:7] + "-01"
    row = metric(db, "inbound_contact_rate", last)
    assert row.denominator == len(_active_on(accounts, as_of))
    assert row.numerator == ((contacts.month == last) & (contacts.started_at.str[:10] <= as_of)).sum()
    # 'unknown' (no known account) has no accounts; age band 'unknown' (no birth date) does
    assert query(db, """select count(*) as n from marts.fct_cx_metrics where metric_name = 'inbound_contact_rate'
                        and segment_value = 'unknown' and segment_type <> 'age_band'""").n[0] == 0
    assert query(db, """select count(*) as n from marts.fct_cx_metrics where metric_name = 'average_handle_time'
                        and segment_value = 'unknown' and segment_type = 'account_class'""").n[0] > 0


def test_channel_mix_matches_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    events = kept(raw, m, "raw_portal_events", ["event_id"])
    events = events[events.event_type.isin(["make_payment", "enroll_autopay", "enroll_paperless", "start_stop_move",
                                            "update_contact_info", "report_outage"])]
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    ivr = contacts[(contacts.channel == "ivr") & (contacts.resolution_status == "resolved")]
    assisted = contacts[contacts.channel.isin(ASSISTED) & (contacts.resolution_status != "abandoned")]
    interactions = pd.concat([
        pd.DataFrame({"channel": events.channel, "day": events.event_at.str[:10]}),
        pd.DataFrame({"channel": ivr.channel, "day": ivr.started_at.str[:10]}),
        pd.DataFrame({"channel": assisted.channel, "day": assisted.started_at.str[:10]}),
    ])
    interactions["month"] = interactions.day.str[:7] + "-01"
    mix = query(db, """select period_start, channel, channel_group, interactions, total_interactions, channel_share, prior_year_share
                       from marts.fct_channel_mix where period_grain = 'month' and segment_type = 'all'""")
    mix["period_start"] = mix.period_start.dt.strftime("%Y-%m-%d")
    mix = mix.set_index(["period_start", "channel"])
    for month in ["2023-09-01", "2024-09-01"]:
        sub = interactions[interactions.month == month]
        counts = sub.channel.value_counts()
        got = mix.loc[month]
        assert dict(got.interactions) == counts.to_dict()
        assert (got.total_interactions == len(sub)).all()
        assert got.channel_share.to_dict() == pytest.approx((counts / len(sub)).to_dict())
        assert dict(got.channel_group) == {c: "assisted" if c in ASSISTED else "self_service" for c in counts.index}
        assert metric(db, "self_service_adoption", month).denominator == len(sub)
    prior = mix.loc["2023-09-01"]
    for channel, r in mix.loc["2024-09-01"].iterrows():
        expected = prior.channel_share.get(channel)
        assert (pd.isna(r.prior_year_share) and expected is None) or r.prior_year_share == pytest.approx(expected)


def test_opportunities_match_an_independent_computation_from_the_exports_and_the_targets(built):
    """fct_cx_opportunities by account class, recomputed here from the exports (not from fct_cx_metrics) and
    seeds/metric_targets.csv: five metrics, both directions (handle time in agent seconds, the contact rate
    in contacts), months with and without a prior year."""
    raw, m, db = built["raw"], built["manifest"], built["db"]
    targets = pd.read_csv(PROJECT / "seeds" / "metric_targets.csv").set_index("metric_name")
    accounts = kept(raw, m, "raw_accounts", ["account_id"]).set_index("account_id")
    customers = kept(raw, m, "raw_customers", ["customer_id"]).set_index("customer_id")
    bills = kept(raw, m, "raw_bills", ["bill_id"])
    exc = kept(raw, m, "raw_billing_exceptions", ["exception_id"])
    surveys = kept(raw, m, "raw_surveys", ["survey_id"])
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    prefs = kept(raw, m, "raw_delivery_preferences", ["account_id", "effective_date"])
    contact_account = contact_account_resolver(accounts, customers)
    contacts["account"] = [contact_account(r) for r in contacts.itertuples()]
    klass = lambda acc: accounts.account_class.get(acc, "unknown") if acc is not None else "unknown"  # noqa: E731
    bills["accurate"] = ~bills.bill_id.isin(set(exc.bill_id.dropna())) & ~bills.bill_id.isin(set(bills.corrects_bill_id.dropna()))
    responses = surveys[surveys.responded_at.notna() & surveys.score.notna()]
    calls = contacts[(contacts.channel == "phone") & contacts.agent_id.notna() & (contacts.resolution_status != "abandoned")]
    handle = sum(pd.to_numeric(calls[c]).fillna(0) for c in ["talk_seconds", "hold_seconds", "wrap_seconds"])

    checked = 0
    for month, snapshot in [("2023-08-01", "2023-08-31"), ("2024-03-01", "2024-03-31")]:
        def in_month(col):
            return col.str[:7] + "-01" == month
        active = _active_on(accounts.reset_index(), snapshot)
        in_force = prefs[prefs.effective_date <= snapshot].sort_values("effective_date").groupby("account_id").last()
        b = bills[in_month(bills.bill_date)]
        r = responses[in_month(responses.responded_at)]
        c = calls[in_month(calls.started_at)]
        k = contacts[in_month(contacts.started_at)]
        # {metric: DataFrame(numerator, denominator) by account class}
        per_class = {
            "bill_accuracy": pd.DataFrame({"n": b.accurate.astype(float), "d": 1, "cls": b.account_id.map(klass)}),
            "csat": pd.DataFrame({"n": (r.score.astype(int) >= 4).astype(float), "d": 1, "cls": r.account_id.map(klass)}),
            "average_handle_time": pd.DataFrame({"n": handle[c.index].astype(float), "d": 1, "cls": c.account.map(klass)}),
            "ebill_adoption": pd.DataFrame({"n": active.account_id.map(in_force.delivery_method).eq("ebill").astype(float),
                                            "d": 1, "cls": active.account_class}),
        }
        per_class = {name: df.groupby("cls")[["n", "d"]].sum() for name, df in per_class.items()}
        # the contact rate: contacts of the class's accounts over the class's active accounts
        rate = pd.DataFrame({"n": k.account.map(klass).value_counts(), "d": active.account_class.value_counts()})
        per_class["inbound_contact_rate"] = rate.fillna(0)
        utility = {name: df.d.sum() for name, df in per_class.items()}
        utility["inbound_contact_rate"] = len(active)
        per_class["inbound_contact_rate"] = rate[rate.d > 0].fillna(0)  # no accounts, no row ('unknown')
        mart = query(db, """select * from marts.fct_cx_opportunities where month_start = cast(? as date)
                            and segment_type = 'account_class'""", [month])
        for name, df in per_class.items():
            t = targets.loc[name]
            got = mart[mart.metric_name == name].set_index("segment_value")
            assert sorted(got.index) == sorted(df.index), (name, month)
            gaps = ((t.target_value * df.d - df.n) if t.direction == "higher_is_better"
                    else (df.n - t.target_value * df.d)).clip(lower=0)
            for cls, row in df.iterrows():
                g = got.loc[cls]
                assert (g.numerator, g.denominator) == pytest.approx((row.n, row.d)), (name, month, cls)
                assert g.target_value == t.target_value and g.target_source == t.source
                assert g.gap_units == pytest.approx(gaps[cls], abs=1e-9), (name, month, cls)
                assert g.utility_lift == pytest.approx(gaps[cls] / utility[name], abs=1e-12), (name, month, cls)
                assert pd.isna(g.rank_in_metric) == (gaps[cls] == 0), (name, month, cls)
                share = gaps[cls] / gaps.sum() if gaps.sum() > 0 else None
                assert (pd.isna(g.share_of_type_gap) and share is None) or g.share_of_type_gap == pytest.approx(share)
                checked += 1
            # the ranks of the classes (across every segment type) follow their lifts, largest first
            ranked = got[got.rank_in_metric.notna()].sort_values("rank_in_metric")
            lifts = [gaps[cls] / utility[name] for cls in ranked.index]
            assert lifts == sorted(lifts, reverse=True), (name, month)
    assert checked >= 25  # 5 metrics x 2 months x 2-4 classes
    # both directions have a segment short of its target somewhere
    assert query(db, """select count(distinct direction) as n from marts.fct_cx_opportunities
                        where segment_type = 'account_class' and gap_units > 0""").n[0] == 2


def test_billing_exceptions_by_run_match_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    exc = kept(raw, m, "raw_billing_exceptions", ["exception_id"])
    exc["hours"] = (pd.to_datetime(exc.resolved_at) - pd.to_datetime(exc.raised_at)).dt.total_seconds() / 3600
    expected = exc.groupby(["billing_run_id", "exception_type"]).agg(
        exceptions=("exception_id", "size"), without_bill=("bill_id", lambda b: b.isna().sum()),
        resolved=("resolved_at", lambda r: r.notna().sum()), median=("hours", "median"))
    got = query(db, "select * from marts.fct_billing_exceptions_by_run").set_index(["billing_run_id", "exception_type"])
    assert sorted(got.index) == sorted(expected.index)
    for key, e in expected.iterrows():
        g = got.loc[key]
        assert (g.exceptions, g.exceptions_without_bill, g.resolved_exceptions) == (e.exceptions, e.without_bill, e.resolved), key
        assert (pd.isna(g.median_hours_to_resolve) and pd.isna(e["median"])) or g.median_hours_to_resolve == pytest.approx(e["median"])
    assert (got.exceptions_without_bill > 0).any() and got.median_hours_to_resolve.notna().any()


def test_ticket_resolution_matches_an_independent_computation(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    contacts = contacts[contacts.ticket_id.notna()].copy()
    contacts["t"] = pd.to_datetime(contacts.started_at)
    contacts["end"] = contacts.t + pd.to_timedelta(
        sum(pd.to_numeric(contacts[c]).fillna(0) for c in ["talk_seconds", "hold_seconds", "wrap_seconds"]), unit="s")
    contacts = contacts.sort_values(["ticket_id", "t", "contact_id"])
    first = contacts.groupby("ticket_id").head(1).set_index("ticket_id")
    resolved = contacts[contacts.resolution_status == "resolved"].groupby("ticket_id").head(1).set_index("ticket_id")
    tickets = pd.DataFrame({"month": first.started_at.str[:7] + "-01", "reason": first.reason_code, "t": first.t})
    tickets["end"] = resolved.end.reindex(tickets.index)
    tickets["hours"] = (tickets.end - tickets.t).dt.total_seconds() / 3600
    tickets["fast"] = tickets.end <= tickets.t + pd.Timedelta(days=7)
    expected = tickets.groupby(["month", "reason"]).agg(
        tickets=("t", "size"), resolved=("end", lambda e: e.notna().sum()), fast=("fast", "sum"),
        median=("hours", lambda h: h.quantile(0.5)), p90=("hours", lambda h: h.quantile(0.9)))
    got = query(db, "select * from marts.fct_ticket_resolution")
    got["month_start"] = got.month_start.dt.strftime("%Y-%m-%d")
    got = got.set_index(["month_start", "contact_reason"])
    assert sorted(got.index) == sorted(expected.index)
    for key, e in expected.iterrows():
        g = got.loc[key]
        assert (g.tickets, g.resolved_tickets, g.resolved_within_7d) == (e.tickets, e.resolved, e.fast), key
        for col, ecol in [("median_hours_to_resolution", "median"), ("p90_hours_to_resolution", "p90")]:
            assert (pd.isna(g[col]) and pd.isna(e[ecol])) or g[col] == pytest.approx(e[ecol]), (key, col)
    assert (got.resolved_within_7d < got.resolved_tickets).any()


def test_csat_touchpoints_and_drivers_add_up_to_csat(built):
    raw, m, db = built["raw"], built["manifest"], built["db"]
    off = query(db, """
        select m.period_grain, m.period_start, m.segment_type, m.segment_value
        from marts.fct_cx_metrics m
        left join (select period_grain, period_start, segment_type, segment_value,
                          sum(numerator) as n, sum(denominator) as d
                   from marts.fct_csat_by_touchpoint group by all) t using (period_grain, period_start, segment_type, segment_value)
        where m.metric_name = 'csat' and (t.d is null or t.d <> m.denominator or t.n <> m.numerator)""")
    assert off.empty, off.head()
    surveys = kept(raw, m, "raw_surveys", ["survey_id"])
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    scored = surveys[surveys.responded_at.notna() & surveys.score.notna() & (surveys.trigger_type == "contact")]
    scored = scored[scored.trigger_id.isin(set(contacts.contact_id))]
    drivers = query(db, "select ticket_outcome, sum(denominator) as d, sum(numerator) as n from marts.fct_csat_drivers group by 1")
    assert drivers.d.sum() == len(scored)
    assert drivers.n.sum() == (scored.score.astype(int) >= 4).sum()
    no_ticket = scored.trigger_id.map(contacts.set_index("contact_id").ticket_id).isna().sum()
    assert drivers.set_index("ticket_outcome").d.get("no_ticket", 0) == no_ticket


def test_month_rows_carry_prior_year_and_weeks_are_ratios_of_sums(built):
    db = built["db"]
    m = query(db, """select * from marts.fct_cx_metrics where period_grain = 'month' and segment_type = 'all'
                     and metric_name = 'bill_accuracy' order by period_start""").set_index("period_start")
    row = m.loc[pd.Timestamp("2024-05-01")]
    prior = m.loc[pd.Timestamp("2023-05-01")]
    assert row.prior_year_value == pytest.approx(prior.metric_value)
    assert row.yoy_change == pytest.approx(row.metric_value - prior.metric_value)
    assert pd.isna(m.loc[pd.Timestamp("2023-03-01")].prior_year_value)
    weeks = query(db, """
        select w.metric_name, w.period_start, w.segment_type, w.segment_value,
               w.numerator, w.denominator, sum(d.numerator) as n, sum(d.denominator) as den
        from marts.fct_cx_metrics w
        join marts.fct_cx_metrics d on d.metric_name = w.metric_name and d.segment_type = w.segment_type
          and d.segment_value = w.segment_value and d.period_grain = 'day'
          and d.period_start between w.period_start and w.period_start + 6
        where w.period_grain = 'week' and w.metric_name not in ('ebill_adoption', 'inbound_contact_rate')
        group by all""")
    assert len(weeks) > 100
    assert (weeks.numerator - weeks.n).abs().max() < 1e-6
    assert (weeks.denominator == weeks.den).all()


def test_marts_hold_no_personal_data_and_scorecard_prints(built):
    cols = query(built["db"], "select table_name, column_name from information_schema.columns where table_schema = 'marts'")
    assert not cols.column_name.isin(["full_name", "email", "phone", "birth_date", "caller_phone"]).any()
    out = built["stdout"]
    assert "CX scorecard for 2024-09" in out
    for name in ["csat", "first_contact_resolution", "self_service_adoption", "bill_accuracy", "average_handle_time",
                 "ebill_adoption", "inbound_contact_rate"]:
        assert name in out
    assert str(built["db"]) in out
    # each metric's line names its top opportunity of the month (rank 1 of fct_cx_opportunities)
    top = query(built["db"], """select metric_name, segment_type, segment_value from marts.fct_cx_opportunities
                                where month_start = date '2024-09-01' and rank_in_metric = 1""")
    assert len(top) >= 3
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.split() and ln.split()[0] in set(top.metric_name)}
    for t in top.itertuples():
        assert f"{t.segment_type}={t.segment_value}: " in lines[t.metric_name].split("(n=")[-1], t


def test_the_run_prints_its_phases_and_progress_lines_not_dbts_log(built):
    out = built["stdout"].splitlines()
    starts = [ln.split(":")[0] for ln in out if ln.split(":")[0] in ("preflight", "intake", "build", "gate", "publish")]
    # each phase in order (the build's progress lines repeat "build")
    assert [p for i, p in enumerate(starts) if i == 0 or p != starts[i - 1]] == [
        "preflight", "intake", "build", "gate", "publish"]
    # a first publish writes every mart
    assert re.search(r"^publish: .*cx\.duckdb \(marts: \d+ copied\) \(\d+\.\d s\)$", built["stdout"], re.M)
    # the last progress line: every node done, none failed (a pipe, not a terminal: no carriage returns)
    last = [ln for ln in out if ln.startswith("build: ") and " nodes, " in ln][-1]
    done, total = re.match(r"build: (\d+)/(\d+) nodes, 0 error\(s\)", last).groups()
    assert done == total and int(total) > 300 and "\r" not in built["stdout"]
    # dbt's own log went to its file, not here; warnings are in the data-health summary, once
    assert " START sql " not in built["stdout"] and "Running with dbt=" not in built["stdout"]
    assert "dbt's log: " in built["stdout"]


def test_the_due_surveys_are_handed_off_once_with_the_customers_email(built, tmp_path):
    # no hand-off folder configured for the module's run: the step says it skipped
    assert "hand-off: skipped (no hand-off folder configured" in built["stdout"]
    as_of = query(built["db"], "select max(as_of_date) as d from marts.dim_accounts").d[0]
    now = pd.Timestamp(as_of).strftime("%Y-%m-%d 00:00:00")
    due = query(built["db"], "select trigger_type, trigger_id, account_id from marts.fct_survey_triggers "
                             f"where status = 'due' and send_window_end > timestamp '{now}'")
    assert len(due) > 0
    # who each account's customer is, from the exports (one accounts and one customers file, rows kept)
    accounts = pd.read_csv(built["raw"] / "raw_accounts.csv", dtype=str).drop_duplicates("account_id", keep="last")
    customers = pd.read_csv(built["raw"] / "raw_customers.csv", dtype=str).drop_duplicates("customer_id", keep="last")
    email = accounts.merge(customers, on="customer_id").set_index("account_id").email
    out = tmp_path / "handoff"
    out.mkdir(mode=0o700)
    out.chmod(0o700)
    proc = run_cli("surveys", "handoff", "--out", str(out), "--duckdb", str(built["db"]), "--now", now)
    assert proc.returncode == 0, proc.stderr
    (batch,) = out.glob("*.csv")
    handed = pd.read_csv(batch, dtype=str)
    assert sorted(zip(handed.trigger_type, handed.trigger_id)) == sorted(zip(due.trigger_type, due.trigger_id))
    assert (handed.email == handed.account_id.map(email)).all() and handed.full_name.notna().all()
    again = run_cli("surveys", "handoff", "--out", str(out), "--duckdb", str(built["db"]), "--now", now)
    assert "nothing new to hand off" in again.stdout and len(list(out.glob("*.csv"))) == 1


def test_a_run_after_a_hand_off_audits_it_and_links_the_responses(built, tmp_path):
    """The ledger is an input: the next (incremental) run publishes the batch in
    dq_survey_handoffs and on each trigger it held, and a response that comes
    back for a handed-off trigger shows in fct_survey_outcomes."""
    from cx_warehouse.pipeline import _write_state_meta, state_path

    from _builds import copy_warehouse

    db = copy_warehouse(built["db"], tmp_path / "wh")
    as_of = query(db, "select max(as_of_date) as d from marts.dim_accounts").d[0]
    now = pd.Timestamp(as_of).strftime("%Y-%m-%d 00:00:00")
    out = tmp_path / "handoff"
    out.mkdir(mode=0o700)
    out.chmod(0o700)
    assert run_cli("surveys", "handoff", "--out", str(out), "--duckdb", str(db), "--now", now).returncode == 0
    (batch,) = out.glob("*.csv")
    handed = pd.read_csv(batch, dtype=str)
    manifest = json.loads(batch.with_suffix(".json").read_text())
    # the survey tool answers one handed-off trigger: the same landing folder (copied,
    # the working state told so), raw_surveys re-sent with that response added
    raw = tmp_path / "exports"
    shutil.copytree(built["raw"], raw)
    _write_state_meta(state_path(db), {"raw_dir": str(raw.resolve())})
    surveys = pd.read_csv(raw / "raw_surveys.csv", dtype=str, keep_default_na=False)
    answered = handed.iloc[0]
    template = surveys[(surveys.responded_at != "") & (surveys.score != "")].iloc[0]
    response = {**template.to_dict(), "survey_id": "SV-HANDOFF-1", "account_id": answered.account_id,
                "trigger_type": answered.trigger_type, "trigger_id": answered.trigger_id,
                "sent_at": answered.send_window_start,
                "responded_at": (pd.Timestamp(answered.send_window_start) + pd.Timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")}
    pd.concat([surveys, pd.DataFrame([response])]).to_csv(raw / "raw_surveys.csv", index=False)
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(db))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "The landing folder changed" not in proc.stdout  # incremental
    audit = query(db, "select * from marts.dq_survey_handoffs")
    assert list(audit.batch_id) == [manifest["batch_id"]] == [batch.stem]
    row = audit.iloc[0]
    assert row.row_count == len(handed) and row.sha256 == manifest["sha256"] == hashlib.sha256(batch.read_bytes()).hexdigest()
    counts = handed.trigger_type.value_counts()
    for t in ("bill", "payment", "service_order", "contact"):
        assert row[f"{t}_rows"] == counts.get(t, 0), t
    linked = query(db, "select trigger_type, trigger_id, status from marts.fct_survey_triggers "
                       "where handoff_batch_id = ?", [batch.stem])
    assert sorted(zip(linked.trigger_type, linked.trigger_id)) == sorted(zip(handed.trigger_type, handed.trigger_id))
    status = dict(zip(zip(linked.trigger_type, linked.trigger_id), linked.status))
    assert status[(answered.trigger_type, answered.trigger_id)] == "sent"
    outcomes = query(db, "select sum(handed_off) as handed, sum(handed_off_responses) as responded "
                         "from marts.fct_survey_outcomes")
    assert (outcomes.handed[0], outcomes.responded[0]) == (len(handed), 1)


def test_missing_file_stops_the_run_naming_the_file(tmp_path, built):
    raw = tmp_path / "exports"
    shutil.copytree(built["raw"], raw)
    (raw / "raw_surveys.csv").unlink()
    before = built["db"].read_bytes()
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(built["db"]))
    assert proc.returncode == 2
    assert "raw_surveys: export is missing" in proc.stderr
    assert built["db"].read_bytes() == before


def test_header_missing_a_column_stops_the_run_and_keeps_published_marts(tmp_path, built):
    raw = tmp_path / "exports"
    shutil.copytree(built["raw"], raw)
    path = raw / "raw_contacts.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace(",reason_code,", ",reason,")
    path.write_text("".join(lines))
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(built["db"]))
    assert proc.returncode == 2
    assert "raw_contacts.csv: header lacks contract column 'reason_code'" in proc.stderr
    # the previously published marts are still there and readable
    n = query(built["db"], "select count(*) as n from marts.fct_cx_metrics").n[0]
    assert n > 1000


def test_preflight_cli_names_every_problem(tmp_path):
    proc = run_cli("preflight", "--raw-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count("export is missing") == 14


def _phone_key(value):
    if value is None:
        return None
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return digits[-10:] if len(digits) >= 10 else None


def contact_account_resolver(accounts: pd.DataFrame, customers: pd.DataFrame):
    """int_contacts' account unification re-implemented: the contact's known account_id, else the one account
    active on the contact's day of the customers with the caller's phone (last 10 digits), else None."""
    phone_to_customers = {}
    for cid, phone in customers.phone.items():
        key = _phone_key(phone)
        if key:
            phone_to_customers.setdefault(key, set()).add(cid)

    def contact_account(row):
        if row.account_id is not None and row.account_id in accounts.index:
            return row.account_id
        key = _phone_key(row.caller_phone)
        day = row.started_at[:10]
        matches = {a for a, acc in accounts.iterrows()
                   if key and acc.customer_id in phone_to_customers.get(key, ())
                   and acc.opened_date <= day and (acc.closed_date is None or day < acc.closed_date)}
        return matches.pop() if len(matches) == 1 else None
    return contact_account


def test_survey_triggers_match_an_independent_implementation_of_the_spec(built):
    """survey-triggers.md re-implemented row by row in Python on the same exports."""
    raw, m, db = built["raw"], built["manifest"], built["db"]
    accounts = kept(raw, m, "raw_accounts", ["account_id"]).set_index("account_id")
    customers = kept(raw, m, "raw_customers", ["customer_id"]).set_index("customer_id")
    bills = kept(raw, m, "raw_bills", ["bill_id"])
    payments = kept(raw, m, "raw_payments", ["payment_id"])
    orders = kept(raw, m, "raw_service_orders", ["service_order_id"])
    contacts = kept(raw, m, "raw_contacts", ["contact_id"])
    surveys = kept(raw, m, "raw_surveys", ["survey_id"])

    def active(acc, day):
        a = accounts.loc[acc]
        return a.opened_date <= day and (a.closed_date is None or day < a.closed_date)

    contact_account = contact_account_resolver(accounts, customers)

    cands = []
    for r in bills.itertuples():
        cands.append(("bill", r.bill_id, r.account_id, pd.Timestamp(r.bill_date)))
    for r in payments.itertuples():
        cands.append(("payment", r.payment_id, r.account_id, pd.Timestamp(r.paid_at)))
    for r in orders[orders.status == "completed"].itertuples():
        cands.append(("service_order", r.service_order_id, r.account_id, pd.Timestamp(r.completed_at)))
    assisted = contacts[contacts.channel.isin(["phone", "chat", "email", "walk_in"]) & (contacts.resolution_status != "abandoned")]
    for r in assisted.itertuples():
        secs = sum(int(v) if v is not None else 0 for v in (r.talk_seconds, r.hold_seconds, r.wrap_seconds))
        cands.append(("contact", r.contact_id, contact_account(r), pd.Timestamp(r.started_at) + pd.Timedelta(seconds=secs)))

    order = {"contact": 0, "service_order": 1, "payment": 2, "bill": 3}
    reasons = {}
    by_account = {}
    for ttype, tid, acc, at in cands:
        day = at.strftime("%Y-%m-%d")
        if acc is None or acc not in accounts.index:
            reasons[(ttype, tid)] = "unknown_account"
        elif not active(acc, day):
            reasons[(ttype, tid)] = "inactive_account"
        else:
            cust = accounts.loc[acc].customer_id
            if cust not in customers.index or customers.loc[cust].email is None:
                reasons[(ttype, tid)] = "no_email"
            elif customers.loc[cust].survey_opt_out == "true":
                reasons[(ttype, tid)] = "opted_out"
            else:
                reasons[(ttype, tid)] = None
                by_account.setdefault(acc, []).append((at, order[ttype], tid, ttype))
    for acc, items in by_account.items():
        last = None
        for at, _, tid, ttype in sorted(items):
            if last is not None and at < last + pd.Timedelta(days=30):
                reasons[(ttype, tid)] = "cooldown"
            else:
                last = at

    as_of = query(db, "select max(as_of_date) as as_of_date from marts.dim_accounts").as_of_date[0]
    as_of_end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    matched = surveys.sort_values(["sent_at", "survey_id"]).groupby(["trigger_type", "trigger_id"]).survey_id.first()
    expected = {}
    for ttype, tid, acc, at in cands:
        reason = reasons[(ttype, tid)]
        survey = matched.get((ttype, tid))
        if reason:
            status = "suppressed"
        elif survey is not None:
            status = "sent"
        else:
            status = "due" if at + pd.Timedelta(hours=48) > as_of_end else "expired"
        expected[(ttype, tid)] = (status, reason, survey)

    got = query(db, "select trigger_type, trigger_id, status, suppression_reason, survey_id from marts.fct_survey_triggers")
    got = {(r.trigger_type, r.trigger_id): (r.status, r.suppression_reason, r.survey_id) for r in got.itertuples()}
    norm = lambda t: tuple(None if (v is None or (isinstance(v, float) and pd.isna(v))) else v for v in t)  # noqa: E731
    assert set(got) == set(expected)
    mismatches = [(k, norm(got[k]), expected[k]) for k in expected if norm(got[k]) != expected[k]]
    assert not mismatches, mismatches[:10]
    statuses = {v[0] for v in expected.values()}
    assert {"suppressed", "sent", "expired"} <= statuses
    assert {"cooldown", "no_email", "opted_out"} <= {v[1] for v in expected.values()}


def test_a_failed_rebuild_after_the_landing_folder_changed_is_retried_in_full(tmp_path, monkeypatch):
    """No dbt here: the build fails (exit 1) twice after a folder change; the
    state keeps the folder it was built from, so both attempts rebuild in full."""
    from cx_warehouse import pipeline

    db = tmp_path / "wh" / "cx.duckdb"
    db.parent.mkdir()
    state = pipeline.state_path(db)
    duckdb.connect(str(state)).close()  # a working state built from another folder
    pipeline._write_state_meta(state, {"raw_dir": "/elsewhere"})
    calls = []
    monkeypatch.setattr(pipeline, "run_dbt", lambda args, path, quiet=False, **where: calls.append(args) or 1)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    for _ in range(2):
        assert not pipeline.build_and_publish(SAMPLE, db, run_gx=False, quiet=True).published
    assert len(calls) == 2 and all("--full-refresh" in args for args in calls)
    assert pipeline._read_state_meta(state)["raw_dir"] == "/elsewhere"


def test_a_run_whose_inputs_did_not_change_builds_nothing_and_any_change_builds(tmp_path, monkeypatch):
    """No dbt here: a published warehouse holding the landing folder's deliveries, built from the same
    inputs, is left as it is; a new setting, a hand-off batch, changed code or a failed build in between
    each make the next run build."""
    from cx_warehouse import pipeline

    db = tmp_path / "wh" / "cx.duckdb"
    db.parent.mkdir()
    state = pipeline.state_path(db)
    duckdb.connect(str(state)).close()
    landing = pipeline.landing_deliveries(SAMPLE.resolve())
    con = duckdb.connect(str(db))
    con.execute("create schema marts")
    con.execute("create table marts.dq_load_deliveries (source_file varchar, source_delivery varchar, "
                "delivery_fingerprint varchar)")
    con.executemany("insert into marts.dq_load_deliveries values (?, ?, ?)",
                    [[d["source_file"], d["source_delivery"], d["delivery_fingerprint"]] for d in landing])
    con.close()
    calls = []
    monkeypatch.setattr(pipeline, "run_dbt", lambda args, path, quiet=False, **where: calls.append(args) or 1)
    monkeypatch.setattr(pipeline, "publish", lambda *a, **k: None)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))

    def published_from(**change):
        inputs = {"extra_vars": None, "selector": None, "run_gx": False, **change}
        pipeline._write_state_meta(state, {"raw_dir": str(SAMPLE.resolve()), "published_inputs": pipeline.run_inputs(
            SAMPLE.resolve(), db, landing, inputs["extra_vars"], inputs["selector"], inputs["run_gx"])})

    def run(**kw):
        return pipeline.build_and_publish(SAMPLE, db, run_gx=False, quiet=True, **kw)

    published_from()
    result = run()
    assert result.published and result.message == "unchanged" and calls == []
    # a setting differs: dbt builds (and fails here), and the state no longer vouches for the published run
    assert not run(extra_vars={"lookback_days": 3}).published and len(calls) == 1
    assert "published_inputs" not in pipeline._read_state_meta(state)
    assert not run().published and len(calls) == 2  # the same inputs as published, but the state was touched
    published_from()
    assert not run(selector="daily").published and len(calls) == 3
    assert not run(full_refresh=True).published and len(calls) == 4
    # a batch handed off since: the ledger is an input (fct_survey_triggers.handoff_batch_id)
    published_from()
    ledger = pipeline.handoff_ledger(db)
    con = duckdb.connect(str(ledger))
    con.execute("create table batches (batch_id varchar, row_count bigint)")
    con.execute("insert into batches values ('surveys-20250101T000000Z', 3)")
    con.close()
    assert not run().published and len(calls) == 5
    # changed code
    published_from()
    assert run().message == "unchanged" and len(calls) == 5
    monkeypatch.setattr(pipeline, "code_fingerprint", lambda: "another version")
    assert not run().published and len(calls) == 6
    assert "--select" not in calls[-1]  # the state was last built with other code: every node
    # built with these settings since, nothing new: every node (a build that follows no publish)
    assert not run().published and "--select" not in calls[-1]
    # one export's delivery new since the publish: only what is downstream of it runs
    with duckdb.connect(str(db)) as con:
        con.execute("delete from marts.dq_load_deliveries where source_file = 'raw_contacts'")
    assert not run().published and len(calls) == 8
    assert calls[-1][calls[-1].index("--select"):] == ["--select", "source:cis.raw_contacts+",
                                                       "source:dq_runtime.test_results+"]
    # ... unless a setting differs from the last build's, or the run is a full one
    assert not run(extra_vars={"lookback_days": 3}).published and "--select" not in calls[-1]
    assert not run(extra_vars={"lookback_days": 3}).published and "--select" in calls[-1]
    assert not run(extra_vars={"lookback_days": 3}, full_refresh=True).published and "--select" not in calls[-1]


def test_data_failing_the_gx_checkpoint_is_not_published(tmp_path, built):
    # every survey score stops parsing: staging rejects the rows; with the rejection
    # tolerance relaxed the build passes (the tolerance itself: test_contract_rules.py),
    # but the gate fails: csat has no row at any grain (marts suite)
    raw = tmp_path / "exports"
    shutil.copytree(built["raw"], raw)
    surveys = pd.read_csv(raw / "raw_surveys.csv", dtype=str, keep_default_na=False)
    surveys.loc[surveys.score != "", "score"] = "n/a"
    surveys.to_csv(raw / "raw_surveys.csv", index=False)
    fingerprint = "select count(*) as n, sum(numerator) as s from marts.fct_cx_metrics"
    before = query(built["db"], fingerprint)
    proc = run_cli("run", "--raw-dir", str(raw), "--duckdb", str(built["db"]),
                   "--vars", json.dumps({"rejected_share_max": 1, "rejected_share_never": 1}))
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "Great Expectations checkpoint failed" in proc.stderr
    assert "FAIL" in proc.stdout and "csat/day" in proc.stdout
    assert query(built["db"], fingerprint).equals(before)


def _as_read(metric: str, value) -> str:
    """How the dashboard must show a value: shares as % with one decimal, handle time m:ss, contacts per
    account with three decimals."""
    if value is None or pd.isna(value):
        return "-"
    if metric == "average_handle_time":
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes}:{seconds:02d}"
    return f"{value:.3f}" if metric == "inbound_contact_rate" else f"{value * 100:.1f}%"


def _shown(dom: str) -> dict[str, list[dict]]:
    """What each segment chart holds, as the page wrote it back ({chart id: rows})."""
    out = {}
    for tag in re.findall(r"<div[^>]*data-shown=[^>]*>", dom):
        out[re.search(r'id="([^"]+)"', tag).group(1)] = json.loads(html.unescape(re.search(r'data-shown="([^"]*)"', tag).group(1)))
    return out


def assert_charts_show_the_segment(db: Path, dom: str, segment_type: str, segment_value: str):
    shown = _shown(dom)
    assert len(shown) == 10 and f'data-segment="{html.escape(segment_type)}/{html.escape(segment_value)}"' in dom
    for rows in shown.values():
        assert {(r["segment_type"], r["segment_value"]) for r in rows} <= {(segment_type, segment_value)}
    none = lambda v: None if v is None or pd.isna(v) else v  # noqa: E731
    seg = [segment_type, segment_value]
    metrics = query(db, """select metric_name, cast(period_start as varchar) as p, metric_value, prior_year_value, denominator
                           from marts.fct_cx_metrics where period_grain = 'month' and segment_type = ? and segment_value = ?""", seg)
    for name in ["csat", "first_contact_resolution", "self_service_adoption", "bill_accuracy", "average_handle_time",
                 "ebill_adoption", "inbound_contact_rate"]:
        expected = {r.p: (r.metric_value, none(r.prior_year_value), r.denominator)
                    for r in metrics[metrics.metric_name == name].itertuples()}
        got = {r["period_start"][:10]: (r["metric_value"], r["prior_year_value"], r["denominator"])
               for r in shown[f"trend_{name}"]}
        assert got == expected and len(got) == len(shown[f"trend_{name}"]), name
    weeks = query(db, """select cast(week_start as varchar) as w, csat_13w, denominator_13w from marts.fct_csat_rolling_13w
                         where segment_type = ? and segment_value = ?""", seg)
    assert {r["week_start"][:10]: (r["csat_13w"], r["denominator_13w"]) for r in shown["csat_13w"]} == {
        r.w: (r.csat_13w, r.denominator_13w) for r in weeks.itertuples()}
    mix = query(db, """select cast(period_start as varchar) as p, channel, channel_group, interactions, channel_share,
                              prior_year_share from marts.fct_channel_mix
                       where period_grain = 'month' and segment_type = ? and segment_value = ?""", seg)
    expected = {(r.p, r.channel): (r.channel_group, r.interactions, r.channel_share, none(r.prior_year_share))
                for r in mix.itertuples()}
    assert len(expected) > 0
    for chart in ("channel_mix", "channel_groups"):
        assert {(r["period_start"][:10], r["channel"]): (r["channel_group"], r["interactions"], r["channel_share"],
                                                          r["prior_year_share"]) for r in shown[chart]} == expected, chart


def test_the_dashboard_makes_the_vega_bundle_once_per_version(tmp_path, monkeypatch):
    # the page embeds vl-convert's bundle; a daily run reads it from dbt's target folder
    import vl_convert

    from cx_warehouse.dashboard import vega_bundle

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    calls = []

    class Counting:
        @staticmethod
        def javascript_bundle(vl_version):
            calls.append(vl_version)
            return vl_convert.javascript_bundle(vl_version=vl_version)

    first = vega_bundle(Counting, "v5_20")
    assert calls == ["v5_20"] and "vega" in first.lower() and len(first) > 100_000
    assert vega_bundle(Counting, "v5_20") == first and calls == ["v5_20"]
    assert [p.name.startswith("vega-bundle-") and p.name.endswith("-v5_20.js")
            for p in (tmp_path / "target").iterdir()] == [True]


def test_dashboard_opens_offline_renders_every_chart_and_shows_the_marts_numbers(built, tmp_path):
    line = [ln for ln in built["stdout"].splitlines() if ln.startswith("Dashboard: ")]
    assert line, built["stdout"][-2000:]
    page = Path(line[0].split()[1])
    assert page == built["db"].parent / "dashboard" / "index.html" and page.is_file()
    source = page.read_text()
    # nothing to fetch: no script, style sheet or image is loaded from anywhere, all are inlined
    markup = re.sub(r"<script>.*?</script>", "", source, flags=re.S)  # the inlined bundle's own strings aside
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", markup, re.I)
    assert markup.count("<script>") == 0 and source.count("<script>") == 2
    r = render(page, tmp_path / "browser", window="1400,2600")
    assert r.console == [], r.console
    assert r.page_requests == [], r.page_requests
    expected_charts = source.count('<div class="chart" id=')
    assert expected_charts >= 15 and count_charts(r.dom) == expected_charts
    assert f'data-rendered="{expected_charts}"' in r.dom
    assert r.screenshot.is_file() and r.screenshot.stat().st_size > 50_000
    db = built["db"]
    assert_charts_show_the_segment(db, r.dom, "all", "all")  # the default
    shown = tables(r.dom)

    # the scorecard: values as people read them, a status badge and the target, the top opportunity
    month = [c for c in shown if c.startswith("Latest complete month ")][0].split()[-1]
    source_, header, rows = shown[f"Latest complete month {month}"]
    marts = query(db, """select m.metric_name, m.metric_value, m.prior_year_value, t.direction, t.target_value, t.at_risk_value
                         from marts.fct_cx_metrics m join reference.metric_targets t using (metric_name)
                         where period_grain = 'month' and segment_type = 'all' and period_start = cast(? as date)""",
                  [month]).set_index("metric_name")
    top = query(db, """select metric_name, segment_type, segment_value from marts.fct_cx_opportunities
                       where month_start = cast(? as date) and rank_in_metric = 1""", [month]).set_index("metric_name")
    assert source_ == "marts.fct_cx_metrics" and len(rows) == len(marts) == 7
    assert header[:6] == ["metric", "value", "prior year", "change", "status", "target (source)"]
    for name, value, prior, _, status, target, opportunity in rows:
        mt = marts.loc[name]
        assert (value, prior) == (_as_read(name, mt.metric_value), _as_read(name, mt.prior_year_value)), name
        assert target.startswith(_as_read(name, mt.target_value) + " "), (name, target)
        better = (lambda a, b: a <= b) if mt.direction == "lower_is_better" else (lambda a, b: a >= b)
        assert status == ("on target" if better(mt.metric_value, mt.target_value) else
                          "watch" if better(mt.metric_value, mt.at_risk_value) else "at risk"), name
        assert opportunity.startswith(f"{top.segment_type[name]}={top.segment_value[name]}: ") if name in top.index \
            else opportunity == "-", (name, opportunity)
    assert re.search(r'<span class="badge (on-target|watch|at-risk)">', r.dom)

    # where to act first: the latest complete month's three first opportunities of every metric
    source_, header, rows = shown[f"Where to act first, {month[:7]}"]
    opp = query(db, """select metric_name, rank_in_metric, segment_type, segment_value, metric_value, gap_units,
                              utility_lift, target_source
                       from marts.fct_cx_opportunities where month_start = cast(? as date) and rank_in_metric <= 3""",
                [month])
    assert source_ == "marts.fct_cx_opportunities" and header[:3] == ["metric", "rank", "segment"]
    ranked = [r for r in rows if r[1]]
    assert len(ranked) == len(opp) > 0
    labels = {"csat": "CSAT", "first_contact_resolution": "First-contact resolution",
              "self_service_adoption": "Self-service adoption", "bill_accuracy": "Bill accuracy",
              "average_handle_time": "Average handle time (m:ss)", "ebill_adoption": "E-bill adoption",
              "inbound_contact_rate": "Inbound contacts per account"}
    for o in opp.itertuples():
        row = [r for r in ranked if r[1] == str(o.rank_in_metric) and r[0] == labels[o.metric_name]
               and r[2] == f"{o.segment_type} = {o.segment_value}"]
        assert len(row) == 1, o
        value, gap, lift, source_label = row[0][3], row[0][5], row[0][6], row[0][8]
        assert value.startswith(_as_read(o.metric_name, o.metric_value)), (o, value)
        hours = o.metric_name == "average_handle_time"
        assert gap.startswith(f"{o.gap_units / 3600 if hours else o.gap_units:,.1f} "), (o, gap)
        expected_lift = -o.utility_lift if o.metric_name in ("average_handle_time", "inbound_contact_rate") else o.utility_lift
        assert lift == ("-" if expected_lift < 0 else "+") + _as_read(o.metric_name, abs(expected_lift)).replace(
            "%", " pt"), (o, lift)
        assert source_label == o.target_source.split(":")[0]
    assert "their lifts do not add up" in r.dom

    source_, header, rows = shown["Rows per export"]
    rec = query(db, "select * from marts.dq_row_reconciliation").set_index("source_file")
    assert len(rows) == 14
    for row in rows:
        assert [int(v) for v in row[1:]] == [int(rec.loc[row[0], c]) for c in header[1:]], row


def test_the_dashboard_drills_down_to_a_segment_chosen_in_its_address(built, tmp_path):
    """`#segment=age_band/65+` (as the two lists set it): every segment chart holds that segment's rows."""
    page = built["db"].parent / "dashboard" / "index.html"
    r = render(page, tmp_path / "browser", fragment="#segment=age_band/65%2B", window="1400,2600")
    assert r.console == [] and r.page_requests == [], (r.console, r.page_requests)
    assert_charts_show_the_segment(built["db"], r.dom, "age_band", "65+")
    assert '<span id="segment-shown">age_band = 65+</span>' in r.dom
    # a segment the marts do not hold falls back to all accounts
    r = render(page, tmp_path / "browser2", fragment="#segment=age_band/nobody", window="1400,800")
    assert r.console == [] and 'data-segment="all/all"' in r.dom


@pytest.mark.skipif(chromium() is None, reason="needs Chromium (make browser)")
def test_the_browser_check_catches_a_request_and_a_console_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://example.com/x.png">'
                    '<script>console.error("boom")</script></body></html>')
    r = render(page, tmp_path / "browser", budget_ms=3000)
    assert r.page_requests == ["http://example.com/x.png"]
    assert len(r.console) == 1 and "boom" in r.console[0]
