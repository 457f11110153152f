"""Tests of the CIS export generator (cx_warehouse.generator).

The checks re-implement the contract (docs/contract/cis-exports.md) on their
own, with pandas and duckdb, instead of trusting the generator's constants.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx_warehouse import generator

PROJECT_DIR = Path(__file__).resolve().parents[2]

# --- the contract, written out again -------------------------------------
HEADERS = {
    "raw_customers": "customer_id,full_name,email,phone,birth_date,survey_opt_out",
    "raw_accounts": "account_id,customer_id,premise_id,account_class,rate_code,service_area,"
                    "opened_date,closed_date",
    "raw_meter_installs": "meter_id,premise_id,installed_date,removed_date",
    "raw_ami_daily_reads": "meter_id,read_date,kwh,read_quality",
    "raw_billing_runs": "billing_run_id,run_date,bill_cycle",
    "raw_bills": "bill_id,account_id,billing_run_id,bill_date,service_period_start,"
                 "service_period_end,billed_kwh,amount_due,is_estimated,corrects_bill_id",
    "raw_billing_exceptions": "exception_id,billing_run_id,bill_id,account_id,exception_type,"
                              "raised_at,resolved_at",
    "raw_payments": "payment_id,account_id,paid_at,amount,payment_channel",
    "raw_service_orders": "service_order_id,account_id,order_type,status,created_at,completed_at",
    "raw_contacts": "contact_id,ticket_id,account_id,caller_phone,channel,reason_code,started_at,"
                    "agent_id,talk_seconds,hold_seconds,wrap_seconds,resolution_status",
    "raw_portal_users": "portal_user_id,account_id,email,registered_at",
    "raw_portal_events": "event_id,portal_user_id,event_at,channel,event_type",
    "raw_delivery_preferences": "account_id,delivery_method,effective_date",
    "raw_surveys": "survey_id,account_id,trigger_type,trigger_id,sent_at,responded_at,score",
}
KEY = {name: [cols.split(",")[0]] for name, cols in HEADERS.items()}
KEY["raw_meter_installs"] = ["meter_id", "installed_date"]
KEY["raw_ami_daily_reads"] = ["meter_id", "read_date"]
KEY["raw_delivery_preferences"] = ["account_id", "effective_date"]
OPTIONAL = {
    "raw_customers": {"email", "phone", "birth_date"},
    "raw_accounts": {"closed_date"},
    "raw_meter_installs": {"removed_date"},
    "raw_bills": {"corrects_bill_id"},
    "raw_billing_exceptions": {"bill_id", "resolved_at"},
    "raw_service_orders": {"completed_at"},
    "raw_contacts": {"ticket_id", "account_id", "caller_phone", "agent_id", "talk_seconds",
                     "hold_seconds", "wrap_seconds"},
    "raw_surveys": {"responded_at", "score"},
}
DATE_COLS = {
    "raw_customers": ["birth_date"], "raw_accounts": ["opened_date", "closed_date"],
    "raw_meter_installs": ["installed_date", "removed_date"], "raw_ami_daily_reads": ["read_date"],
    "raw_billing_runs": ["run_date"],
    "raw_bills": ["bill_date", "service_period_start", "service_period_end"],
    "raw_delivery_preferences": ["effective_date"],
}
TS_COLS = {
    "raw_billing_exceptions": ["raised_at", "resolved_at"], "raw_payments": ["paid_at"],
    "raw_service_orders": ["created_at", "completed_at"], "raw_contacts": ["started_at"],
    "raw_portal_users": ["registered_at"], "raw_portal_events": ["event_at"],
    "raw_surveys": ["sent_at", "responded_at"],
}
DEC_COLS = {"raw_ami_daily_reads": ["kwh"], "raw_bills": ["billed_kwh", "amount_due"],
            "raw_payments": ["amount"]}
INT_COLS = {"raw_contacts": ["talk_seconds", "hold_seconds", "wrap_seconds"], "raw_surveys": ["score"]}
BOOL_COLS = {"raw_bills": ["is_estimated"], "raw_customers": ["survey_opt_out"]}
DOMAINS = {
    ("raw_accounts", "account_class"): {"residential", "commercial", "industrial"},
    ("raw_ami_daily_reads", "read_quality"): {"actual", "estimated"},
    ("raw_payments", "payment_channel"): {"autopay", "portal", "mobile_app", "ivr", "phone_agent",
                                          "mail", "walk_in"},
    ("raw_service_orders", "order_type"): {"start_service", "stop_service", "transfer_service",
                                           "meter_exchange", "reconnect", "investigation"},
    ("raw_service_orders", "status"): {"open", "completed", "cancelled"},
    ("raw_contacts", "channel"): {"phone", "chat", "email", "walk_in", "ivr"},
    ("raw_contacts", "reason_code"): {"billing_inquiry", "high_bill", "payment_arrangement",
                                      "start_stop_move", "outage", "meter_issue", "other"},
    ("raw_contacts", "resolution_status"): {"resolved", "unresolved", "transferred", "abandoned"},
    ("raw_portal_events", "channel"): {"web", "mobile_app"},
    ("raw_portal_events", "event_type"): {"login", "view_bill", "view_usage", "make_payment",
                                          "enroll_autopay", "enroll_paperless", "start_stop_move",
                                          "update_contact_info", "report_outage"},
    ("raw_delivery_preferences", "delivery_method"): {"paper", "ebill", "paper_and_ebill"},
    ("raw_surveys", "trigger_type"): {"bill", "payment", "service_order", "contact"},
}
NON_NEGATIVE = {"raw_ami_daily_reads": ["kwh"], "raw_bills": ["billed_kwh"], "raw_payments": ["amount"],
                "raw_contacts": ["talk_seconds", "hold_seconds", "wrap_seconds"]}
DEFECT_KINDS = {"missing_required", "unparseable", "out_of_domain", "negative_value",
                "score_out_of_range", "completed_at_mismatch", "exact_duplicate",
                "conflicting_duplicate"}

SMALL = dict(accounts=60, start=dt.date(2024, 1, 1), end=dt.date(2024, 8, 31))


def read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False, na_filter=False,
                       encoding="utf-8")


def _bad_date(s: pd.Series) -> pd.Series:
    ok = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    parsed = pd.to_datetime(s.where(ok), format="%Y-%m-%d", errors="coerce")
    return (s != "") & parsed.isna()


def _bad_ts(s: pd.Series) -> pd.Series:
    ok = s.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
    parsed = pd.to_datetime(s.where(ok), format="%Y-%m-%d %H:%M:%S", errors="coerce")
    return (s != "") & parsed.isna()


def row_problems(name: str, df: pd.DataFrame) -> pd.Series:
    """True for every row that breaks a per-row rule of the contract."""
    bad = pd.Series(False, index=df.index)
    for col in HEADERS[name].split(","):
        if col not in OPTIONAL.get(name, set()):
            bad |= df[col] == ""
    for col in DATE_COLS.get(name, []):
        bad |= _bad_date(df[col])
    for col in TS_COLS.get(name, []):
        bad |= _bad_ts(df[col])
    for col in DEC_COLS.get(name, []):
        bad |= (df[col] != "") & ~df[col].str.fullmatch(r"-?\d+(\.\d+)?")
    for col in INT_COLS.get(name, []):
        bad |= (df[col] != "") & ~df[col].str.fullmatch(r"-?\d+")
    for col in BOOL_COLS.get(name, []):
        bad |= ~df[col].isin(["true", "false"])
    for (f, col), dom in DOMAINS.items():
        if f == name:
            bad |= ~df[col].isin(dom)
    for col in NON_NEGATIVE.get(name, []):
        bad |= df[col].str.startswith("-")
    if name == "raw_surveys":
        bad |= (df["score"] != "") & ~df["score"].isin(["1", "2", "3", "4", "5"])
    if name == "raw_service_orders":
        bad |= (df["status"] == "completed") != (df["completed_at"] != "")
    return bad


def reconcile(out: Path, name: str) -> dict:
    """raw / kept / duplicate / rejected recounted from the file itself."""
    df = read(out, name)
    dedup = df.drop_duplicates()
    bad = row_problems(name, dedup)
    conflict = dedup.duplicated(KEY[name], keep=False)
    rejected = bad | conflict
    return {"raw_rows": len(df), "duplicate_rows": len(df) - len(dedup),
            "rejected_rows": int(rejected.sum()), "kept_rows": int((~rejected).sum())}


def kept(out: Path, name: str) -> pd.DataFrame:
    df = read(out, name).drop_duplicates()
    rejected = row_problems(name, df) | df.duplicated(KEY[name], keep=False)
    return df[~rejected]


def digest(out: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


# --- fixtures ----------------------------------------------------------------
@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    manifest = generator.generate(out, accounts=150, start=dt.date(2024, 1, 1),
                                  end=dt.date(2025, 6, 30), seed=7, defect_rate=0.0)
    return out, manifest


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty")
    manifest = generator.generate(out, seed=11, defect_rate=0.02, **SMALL)
    return out, manifest


# --- files, formats, determinism ---------------------------------------------
def test_writes_the_14_contract_files_with_exact_headers(clean):
    out, manifest = clean
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{n}.csv" for n in HEADERS] + ["_manifest.json"])
    for name, header in HEADERS.items():
        raw = (out / f"{name}.csv").read_bytes()
        assert raw.split(b"\n", 1)[0].decode() == header
        assert b"\r" not in raw
        raw.decode("utf-8")
        assert raw.endswith(b"\n")
    assert list(generator.FILES) == list(HEADERS)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generator.generate(a, seed=5, **SMALL)
    generator.generate(b, seed=5, **SMALL)
    generator.generate(c, seed=6, **SMALL)
    da, db, dc = digest(a), digest(b), digest(c)
    assert da == db
    differing = [k for k in da if da[k] != dc[k]]
    assert len(differing) >= 12


def test_value_formats(clean):
    out, _ = clean
    bills = read(out, "raw_bills")
    assert bills["bill_id"].str.fullmatch(r"B\d{8}").all()
    assert read(out, "raw_accounts")["account_id"].str.fullmatch(r"A\d{6}").all()
    assert read(out, "raw_customers")["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert bills["billed_kwh"].str.fullmatch(r"\d+\.\d{2}").all()
    assert bills["amount_due"].str.fullmatch(r"\d+\.\d{2}").all()
    assert set(bills["is_estimated"]) == {"true", "false"}
    reads = read(out, "raw_ami_daily_reads")
    assert reads["kwh"].str.fullmatch(r"\d+\.\d{3}").all()
    contacts = read(out, "raw_contacts")
    assert contacts["started_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()


# --- clean data ----------------------------------------------------------------
def test_defect_rate_zero_has_no_defects_and_no_duplicates(clean):
    out, manifest = clean
    assert manifest["defects"] == [] and manifest["orphans"] == []
    for name in HEADERS:
        df = read(out, name)
        assert not row_problems(name, df).any(), name
        assert not df.duplicated().any(), name
        assert not df.duplicated(KEY[name]).any(), name
        rec = manifest["files"][name]
        assert rec["raw_rows"] == rec["kept_rows"] == len(df) > 0, name
        assert rec["duplicate_rows"] == rec["rejected_rows"] == 0


def test_referential_integrity_of_clean_rows(clean):
    out, _ = clean
    con = duckdb.connect()
    for name in HEADERS:
        con.register(name, read(out, name))

    def none(sql):
        rows = con.execute(sql).fetchall()
        assert rows == [] or rows == [(0,)], (sql, rows[:5])

    none("select account_id from raw_accounts where customer_id not in (select customer_id from raw_customers)")
    none("select bill_id from raw_bills where account_id not in (select account_id from raw_accounts)")
    none("select bill_id from raw_bills where billing_run_id not in (select billing_run_id from raw_billing_runs)")
    none("select b.bill_id from raw_bills b join raw_billing_runs r using (billing_run_id) where b.bill_date <> r.run_date")
    none("""select r.bill_id from raw_bills r left join raw_bills o on r.corrects_bill_id = o.bill_id
            where r.corrects_bill_id <> '' and (o.bill_id is null or o.account_id <> r.account_id
              or o.service_period_start <> r.service_period_start
              or o.service_period_end <> r.service_period_end or o.bill_date >= r.bill_date)""")
    none("""select e.exception_id from raw_billing_exceptions e
            left join raw_bills b on e.bill_id = b.bill_id
            where e.billing_run_id not in (select billing_run_id from raw_billing_runs)
               or e.account_id not in (select account_id from raw_accounts)
               or (e.bill_id <> '' and (b.bill_id is null or b.billing_run_id <> e.billing_run_id))""")
    for t in ("raw_payments", "raw_service_orders", "raw_portal_users", "raw_delivery_preferences",
              "raw_surveys"):
        none(f"select * from {t} where account_id not in (select account_id from raw_accounts)")
    none("select * from raw_contacts where account_id <> '' and account_id not in (select account_id from raw_accounts)")
    none("select * from raw_portal_events where portal_user_id not in (select portal_user_id from raw_portal_users)")
    none("select * from raw_portal_events e join raw_portal_users u using (portal_user_id) where e.event_at < u.registered_at")
    for ttype, table, col in (("bill", "raw_bills", "bill_id"), ("payment", "raw_payments", "payment_id"),
                              ("service_order", "raw_service_orders", "service_order_id"),
                              ("contact", "raw_contacts", "contact_id")):
        none(f"""select s.survey_id from raw_surveys s where s.trigger_type = '{ttype}'
                 and s.trigger_id not in (select {col} from {table})""")
    # reads only for installed meter-days
    none("""select r.meter_id, r.read_date from raw_ami_daily_reads r
            where not exists (select 1 from raw_meter_installs m where m.meter_id = r.meter_id
              and cast(m.installed_date as date) <= cast(r.read_date as date)
              and (m.removed_date = '' or cast(r.read_date as date) < cast(m.removed_date as date)))""")
    # meters and accounts on a premise never overlap
    none("""select a.meter_id from raw_meter_installs a join raw_meter_installs b
            on a.premise_id = b.premise_id and a.meter_id < b.meter_id
            where cast(a.installed_date as date) < coalesce(try_cast(nullif(b.removed_date, '') as date), date '9999-12-31')
              and cast(b.installed_date as date) < coalesce(try_cast(nullif(a.removed_date, '') as date), date '9999-12-31')""")
    none("""select a.account_id from raw_accounts a join raw_accounts b
            on a.premise_id = b.premise_id and a.account_id < b.account_id
            where cast(a.opened_date as date) < coalesce(try_cast(nullif(b.closed_date, '') as date), date '9999-12-31')
              and cast(b.opened_date as date) < coalesce(try_cast(nullif(a.closed_date, '') as date), date '9999-12-31')""")
    # a meter exchange: the old meter's removal day is the new meter's install day
    n_exchanges = con.execute("""select count(*) from raw_meter_installs a join raw_meter_installs b
            on a.premise_id = b.premise_id and a.removed_date = b.installed_date""").fetchone()[0]
    n_removed = con.execute("select count(*) from raw_meter_installs where removed_date <> ''").fetchone()[0]
    assert n_exchanges == n_removed > 0
    # bills: one per active account and cycle-month, periods inside the account's life
    none("""select b.bill_id from raw_bills b join raw_accounts a using (account_id)
            where cast(b.service_period_start as date) < cast(a.opened_date as date)
               or (a.closed_date <> '' and cast(b.service_period_end as date) >= cast(a.closed_date as date))
               or cast(b.service_period_end as date) < cast(b.service_period_start as date)
               or cast(b.service_period_end as date) >= cast(b.bill_date as date)""")
    none("""select account_id, billing_run_id, count(*) from raw_bills where corrects_bill_id = ''
            group by 1, 2 having count(*) > 1""")
    none("""select bill_cycle, strftime(cast(run_date as date), '%Y-%m'), count(*) from raw_billing_runs
            group by 1, 2 having count(*) > 1""")
    none("select * from raw_billing_runs where dayofweek(cast(run_date as date)) in (0, 6)")
    # consecutive original bills of an account cover consecutive days
    none("""with b as (select account_id, cast(service_period_start as date) s, cast(service_period_end as date) e,
                   lag(cast(service_period_end as date)) over (partition by account_id order by bill_date) pe
                   from raw_bills where corrects_bill_id = '')
            select * from b where pe is not null and s <> pe + 1""")


def test_domains_are_fully_used_on_clean_rows(clean):
    out, _ = clean
    for (name, col), dom in DOMAINS.items():
        assert set(read(out, name)[col]) == dom, (name, col)
    ev = read(out, "raw_portal_events")
    for ch in ("web", "mobile_app"):
        assert set(ev.loc[ev["channel"] == ch, "event_type"]) == DOMAINS[("raw_portal_events", "event_type")]
    assert set(read(out, "raw_billing_runs")["bill_cycle"]) == {"01", "02", "03", "04"}
    acc = read(out, "raw_accounts")
    assert set(acc["service_area"]) == {"NORTH", "SOUTH", "EAST", "WEST", "CENTRAL"}
    prefix = {"residential": "RES-", "commercial": "COM-", "industrial": "IND-"}
    assert all(r.startswith(prefix[c]) for c, r in zip(acc["account_class"], acc["rate_code"]))
    assert (acc["account_class"] == "residential").mean() > 0.75


def test_contacts_are_realistic(clean):
    out, _ = clean
    c = read(out, "raw_contacts")
    ivr = c[c["channel"] == "ivr"]
    assert (ivr["agent_id"] == "").all()
    assert (ivr[["talk_seconds", "hold_seconds", "wrap_seconds"]] == "").all().all()
    assisted = c[(c["channel"] != "ivr") & (c["resolution_status"] != "abandoned")]
    assert (assisted["agent_id"] != "").all()
    talk = assisted["talk_seconds"].astype(int)
    assert 120 < talk.median() < 900
    assert (c["ticket_id"] == "").sum() > 0
    sizes = c[c["ticket_id"] != ""].groupby("ticket_id").size()
    assert set(sizes.unique()) >= {1, 2, 3, 4} and sizes.max() <= 5
    t = c[c["ticket_id"] != ""].assign(ts=lambda d: pd.to_datetime(d["started_at"]))
    first = t.groupby("ticket_id")["ts"].transform("min")
    gap = (t["ts"] - first)[t["ts"] > first]
    assert (gap <= pd.Timedelta(days=7)).any() and (gap > pd.Timedelta(days=7)).any()
    # unidentified callers: phone matches one, two or no active account
    cust = read(out, "raw_customers")
    acc = read(out, "raw_accounts")
    cust["p10"] = cust["phone"].str.replace(r"\D", "", regex=True).str[-10:]
    c["p10"] = c["caller_phone"].str.replace(r"\D", "", regex=True).str[-10:]
    un = c[(c["account_id"] == "") & (c["p10"] != "")]
    m = un.merge(cust[cust["p10"] != ""][["customer_id", "p10"]], on="p10", how="left").merge(
        acc[["account_id", "customer_id", "opened_date", "closed_date"]], on="customer_id", how="left",
        suffixes=("", "_acc"))
    day = m["started_at"].str[:10]
    active = (m["opened_date"] <= day) & ((m["closed_date"] == "") | (day < m["closed_date"]))
    matches = m[active].groupby("contact_id")["account_id_acc"].nunique().reindex(un["contact_id"], fill_value=0)
    assert (matches == 0).any() and (matches == 1).any() and (matches == 2).any()
    # outage contacts cluster on storm days, high bills drive high_bill contacts
    assert (c["reason_code"] == "outage").sum() > 0
    phones = cust.loc[cust["phone"] != "", "phone"]
    styles = {"paren": r"\(\d{3}\) \d{3}-\d{4}", "dots": r"\d{3}\.\d{3}\.\d{4}",
              "intl": r"\+1 \d{3} \d{3} \d{4}", "plain": r"\d{10}"}
    for pat in styles.values():
        assert phones.str.fullmatch(pat).any(), pat


def test_customers_accounts_and_moves(clean):
    out, _ = clean
    cust = read(out, "raw_customers")
    acc = read(out, "raw_accounts")
    assert (cust["birth_date"] == "").any()
    assert cust["birth_date"].str.endswith("-02-29").any()
    assert (cust["email"] != "").mean() > 0.8
    p10 = cust["phone"].str.replace(r"\D", "", regex=True).str[-10:]
    assert p10[p10 != ""].duplicated().any()  # a household shares a phone
    assert acc.groupby("customer_id").size().max() >= 2
    per_premise = acc.groupby("premise_id").size()
    assert per_premise.max() >= 2  # move-out then move-in on the same premise
    assert (acc["closed_date"] != "").any()
    so = read(out, "raw_service_orders")
    assert ((so["status"] == "completed") == (so["completed_at"] != "")).all()
    assert (so["created_at"] <= so["completed_at"].where(so["completed_at"] != "", "9999")).all()


def test_billing_is_consistent_with_reads(clean):
    out, _ = clean
    con = duckdb.connect()
    for name in ("raw_bills", "raw_accounts", "raw_meter_installs", "raw_ami_daily_reads", "raw_billing_exceptions"):
        con.register(name, read(out, name))
    rows = con.execute("""
        with reads as (
            select a.account_id, cast(r.read_date as date) d, cast(r.kwh as double) kwh
            from raw_ami_daily_reads r
            join raw_meter_installs m on m.meter_id = r.meter_id
              and cast(m.installed_date as date) <= cast(r.read_date as date)
              and (m.removed_date = '' or cast(r.read_date as date) < cast(m.removed_date as date))
            join raw_accounts a on a.premise_id = m.premise_id
              and cast(a.opened_date as date) <= cast(r.read_date as date)
              and (a.closed_date = '' or cast(r.read_date as date) < cast(a.closed_date as date)))
        select b.bill_id, b.billing_run_id, cast(b.billed_kwh as double) billed, sum(r.kwh) ami, count(r.d) n_days,
               date_diff('day', cast(service_period_start as date), cast(service_period_end as date)) + 1 n
        from raw_bills b join reads r on r.account_id = b.account_id
          and r.d between cast(b.service_period_start as date) and cast(b.service_period_end as date)
        group by all""").df()
    full = rows[rows["n_days"] == rows["n"]]
    assert len(full) > 500
    close = (full["billed"] - full["ami"]).abs() <= 0.01 * full["ami"] + 0.02
    assert 0.93 < close.mean() < 1.0  # mostly within 1%, a few far off
    # every billing run (>= 10 fully covered bills) matches the reads within 2% for >= 90%
    within = (full["billed"] - full["ami"]).abs() <= 0.02 * full["billed"]
    per_run = within.groupby(full["billing_run_id"]).agg(["mean", "size"])
    assert (per_run.loc[per_run["size"] >= 10, "mean"] >= 0.9).all()
    bills = read(out, "raw_bills")
    assert (bills["corrects_bill_id"] != "").sum() > 0
    assert (bills["is_estimated"] == "true").sum() > 0
    ex = read(out, "raw_billing_exceptions")
    assert (ex["bill_id"] == "").any() and (ex["bill_id"] != "").mean() > 0.5
    assert (ex["resolved_at"] != "").mean() > 0.8
    q = read(out, "raw_ami_daily_reads")["read_quality"]
    assert 0.02 < (q == "estimated").mean() < 0.05


def test_surveys_and_self_service(clean):
    out, _ = clean
    s = read(out, "raw_surveys")
    rate = (s["responded_at"] != "").mean()
    assert 0.2 < rate < 0.4
    assert ((s["score"] == "") == (s["responded_at"] == "")).all()
    scores = s.loc[s["score"] != "", "score"].astype(int)
    assert scores.between(1, 5).all() and scores.mean() > 3.3
    # sent 24-48 h after the event for bills (event time = bill_date 00:00), a few late
    b = read(out, "raw_bills")[["bill_id", "bill_date"]]
    sb = s[s["trigger_type"] == "bill"].merge(b, left_on="trigger_id", right_on="bill_id")
    lag = (pd.to_datetime(sb["sent_at"]) - pd.to_datetime(sb["bill_date"])) / pd.Timedelta(hours=1)
    assert ((lag >= 24) & (lag <= 48)).mean() > 0.9
    # per-account cooldown: consecutive surveys of an account are mostly >= 29 days apart
    ss = s.assign(t=pd.to_datetime(s["sent_at"])).sort_values(["account_id", "t"])
    d = ss.groupby("account_id")["t"].diff().dropna()
    assert (d >= pd.Timedelta(days=29)).mean() > 0.9
    # older customers adopt e-bill and the portal less
    acc = read(out, "raw_accounts").merge(read(out, "raw_customers"), on="customer_id")
    acc = acc[acc["account_class"] == "residential"]
    age = (pd.Timestamp("2025-06-30") - pd.to_datetime(acc["birth_date"].replace("", None))).dt.days / 365.25
    users = set(read(out, "raw_portal_users")["account_id"])
    dp = read(out, "raw_delivery_preferences")
    ebill = set(dp.loc[dp["delivery_method"] != "paper", "account_id"])
    old, young = acc[age >= 65], acc[age < 50]
    assert old["account_id"].isin(users).mean() < young["account_id"].isin(users).mean()
    assert old["account_id"].isin(ebill).mean() < young["account_id"].isin(ebill).mean()
    # e-bill switches grow over time
    sw = dp[dp["effective_date"] >= "2024-01-01"]
    assert len(sw) > 0
    assert (sw["effective_date"] >= "2025-01-01").sum() / 6 > (sw["effective_date"] < "2025-01-01").sum() / 12 * 0.9


# --- defects ---------------------------------------------------------------------
def test_every_defect_kind_is_planted_in_every_applicable_file(dirty):
    out, manifest = dirty
    by_file = {}
    for d in manifest["defects"]:
        assert d["kind"] in DEFECT_KINDS
        by_file.setdefault(d["file"], set()).add(d["kind"])
    for name in HEADERS:
        expected = {"missing_required", "unparseable", "exact_duplicate", "conflicting_duplicate"}
        if any(f == name for f, _ in DOMAINS):
            expected.add("out_of_domain")
        if name in NON_NEGATIVE:
            expected.add("negative_value")
        if name == "raw_surveys":
            expected.add("score_out_of_range")
        if name == "raw_service_orders":
            expected.add("completed_at_mismatch")
        assert by_file[name] == expected, name
        assert set(manifest["defect_kinds"][name]) == expected
    # at least one exact copy of a rejected row
    assert any(d["kind"] == "exact_duplicate" and d["of"] == "rejected" for d in manifest["defects"])


def test_manifest_reconciliation_is_true_of_the_files(dirty):
    out, manifest = dirty
    on_disk = json.loads((out / "_manifest.json").read_text(encoding="utf-8"))
    assert on_disk["files"] == manifest["files"]
    assert on_disk["params"]["format"] == "csv" and on_disk["params"]["layout"] == "files"
    assert on_disk["contract"] == "docs/contract/cis-exports.md"
    assert on_disk["corrections"] == [] and on_disk["deliveries"] == {}
    for name in HEADERS:
        rec = manifest["files"][name]
        assert rec["superseded_rows"] == 0
        assert rec["raw_rows"] == rec["kept_rows"] + rec["duplicate_rows"] + rec["rejected_rows"]
        assert rec["raw_rows"] == manifest["rows_written"][f"{name}.csv"]
        recount = reconcile(out, name)
        for k in ("raw_rows", "kept_rows", "duplicate_rows", "rejected_rows"):
            assert recount[k] == rec[k], (name, k, recount, rec)
        assert rec["rejected_rows"] > 0 and rec["duplicate_rows"] > 0
        assert rec["rejected_rows"] < 0.1 * rec["raw_rows"] + 20


def test_planted_defects_are_rejected_and_clean_rows_untouched(dirty, tmp_path):
    out, manifest = dirty
    for name in HEADERS:
        df = read(out, name).drop_duplicates()
        rejected = row_problems(name, df) | df.duplicated(KEY[name], keep=False)
        keys = df[KEY[name]].astype(str).agg("|".join, axis=1)
        rejected_keys = set(keys[rejected])
        planted = {d["primary_key"] for d in manifest["defects"]
                   if d["file"] == name and d["outcome"] == "rejected"}
        assert rejected_keys == planted, name
        conflicts = [d for d in manifest["defects"] if d["file"] == name and d["kind"] == "conflicting_duplicate"]
        for d in conflicts:
            assert (keys == d["primary_key"]).sum() == 2
    # the same parameters without defects give exactly the kept rows, less the
    # planted orphans and integrity defects
    clean_out = tmp_path / "same-without-defects"
    generator.generate(clean_out, seed=11, defect_rate=0.0, **SMALL)
    orphan_keys = {(o["file"], o["primary_key"]) for o in manifest["orphans"] + manifest["integrity"]}
    for name in HEADERS:
        k = kept(out, name)
        keys = k[KEY[name]].astype(str).agg("|".join, axis=1)
        k = k[[(name, x) not in orphan_keys for x in keys]]
        ref = read(clean_out, name)
        pd.testing.assert_frame_equal(
            k.sort_values(list(k.columns)).reset_index(drop=True),
            ref.sort_values(list(ref.columns)).reset_index(drop=True), obj=name)


def test_orphan_references_are_kept(dirty):
    out, manifest = dirty
    files = {o["file"] for o in manifest["orphans"]}
    assert {"raw_bills", "raw_ami_daily_reads", "raw_contacts"} <= files
    accounts = set(kept(out, "raw_accounts")["account_id"])
    meters = set(kept(out, "raw_meter_installs")["meter_id"])
    for o in manifest["orphans"]:
        assert o["kind"] == "orphan_reference"
        df = kept(out, o["file"])
        keys = df[KEY[o["file"]]].astype(str).agg("|".join, axis=1)
        row = df[keys == o["primary_key"]]
        assert len(row) == 1
        ref = row.iloc[0][o["column"]]
        assert ref not in (meters if o["column"] == "meter_id" else accounts)


def test_defects_appear_on_tiny_sets(tmp_path):
    m = generator.generate(tmp_path, accounts=5, start=dt.date(2024, 3, 1), end=dt.date(2024, 4, 15),
                           seed=3, defect_rate=0.001)
    for name in HEADERS:
        rec = m["files"][name]
        assert rec["rejected_rows"] >= 1 and rec["duplicate_rows"] >= 1, name
        assert reconcile(tmp_path, name) == {k: rec[k] for k in ("raw_rows", "duplicate_rows",
                                                                  "rejected_rows", "kept_rows")}


def test_ami_days_limits_reads_to_the_last_days(tmp_path):
    m = generator.generate(tmp_path, accounts=30, start=dt.date(2024, 1, 1), end=dt.date(2024, 3, 31),
                           seed=1, defect_rate=0.0, ami_days=7)
    reads = read(tmp_path, "raw_ami_daily_reads")
    assert reads["read_date"].min() >= "2024-03-25" and reads["read_date"].max() == "2024-03-31"
    assert m["params"]["ami_days"] == 7
    assert len(read(tmp_path, "raw_bills")) > 30 * 2


# --- CLI ---------------------------------------------------------------------------
def test_cli_help_exits_zero():
    res = subprocess.run([sys.executable, "-m", "cx_warehouse.generator", "--help"], cwd=PROJECT_DIR,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for opt in ("--out", "--accounts", "--start", "--end", "--seed", "--defect-rate", "--ami-days",
                "--format", "--layout"):
        assert opt in res.stdout


@pytest.mark.parametrize("args", [
    ["--start", "2024-05-01", "--end", "2024-04-01"],
    ["--accounts", "0"],
    ["--defect-rate", "0.5"],
    ["--defect-rate", "-0.1"],
    ["--ami-days", "0"],
])
def test_cli_rejects_bad_arguments_with_exit_2(tmp_path, args, capsys):
    assert generator.main(["--out", str(tmp_path / "x"), *args]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_unparseable_argument_exits_2(tmp_path):
    with pytest.raises(SystemExit) as e:
        generator.main(["--out", str(tmp_path), "--start", "yesterday"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        generator.main([])
    assert e.value.code == 2


def test_cli_writes_files_and_prints_a_summary(tmp_path):
    out = tmp_path / "cli"
    res = subprocess.run([sys.executable, "-m", "cx_warehouse.generator", "--out", str(out),
                          "--accounts", "20", "--start", "2024-01-01", "--end", "2024-02-29",
                          "--seed", "9", "--defect-rate", "0"], cwd=PROJECT_DIR,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 1
    assert "raw_bills" in res.stdout or "bills=" in res.stdout
    assert len(list(out.glob("raw_*.csv"))) == 14
    m = json.loads((out / "_manifest.json").read_text())
    assert m["params"]["accounts"] == 20 and m["params"]["seed"] == 9


# --- meter installs: composite key, overlapping install ------------------------------
def test_meter_installs_are_keyed_on_meter_and_install_day_and_an_overlap_is_planted(dirty):
    out, manifest = dirty
    assert tuple(KEY["raw_meter_installs"]) == generator.KEYS["raw_meter_installs"]
    conflicts = [d for d in manifest["defects"]
                 if d["file"] == "raw_meter_installs" and d["kind"] == "conflicting_duplicate"]
    assert conflicts and all(d["primary_key"].count("|") == 1 for d in conflicts)
    mi = read(out, "raw_meter_installs")
    for d in conflicts:
        meter, day = d["primary_key"].split("|")
        rows = mi[(mi["meter_id"] == meter) & (mi["installed_date"] == day)].drop_duplicates()
        assert len(rows) == 2 and rows[d["column"]].nunique() == 2
    [overlap] = manifest["integrity"]
    assert overlap["file"] == "raw_meter_installs" and overlap["kind"] == "overlapping_install"
    assert overlap["primary_key"].split("|")[0] == overlap["meter_id"]
    k = kept(out, "raw_meter_installs")
    installs = k[k["meter_id"] == overlap["meter_id"]]
    assert len(installs) == 2 and installs["premise_id"].nunique() == 2
    assert installs["installed_date"].nunique() == 2
    new = installs[installs["meter_id"] + "|" + installs["installed_date"] == overlap["primary_key"]].iloc[0]
    real = installs[installs["installed_date"] != new["installed_date"]].iloc[0]
    assert real["installed_date"] < new["installed_date"]
    assert real["removed_date"] == "" or new["installed_date"] < real["removed_date"]
    assert manifest["files"]["raw_meter_installs"]["kept_rows"] == len(k)


# --- deliveries layout and Parquet ---------------------------------------------------
DAY_COL = {"raw_ami_daily_reads": "read_date", "raw_billing_runs": "run_date", "raw_bills": "bill_date",
           "raw_billing_exceptions": "raised_at", "raw_payments": "paid_at",
           "raw_service_orders": "created_at", "raw_contacts": "started_at",
           "raw_portal_events": "event_at", "raw_surveys": "sent_at"}
DIMENSIONS = [n for n in HEADERS if n not in DAY_COL]
CSV_OPTS = "header=true, all_varchar=true, delim=',', quote='\"', escape='\"'"
TINY = dict(accounts=40, start=dt.date(2024, 1, 1), end=dt.date(2024, 2, 29), defect_rate=0.02)


@pytest.fixture(scope="module")
def deliv(tmp_path_factory):
    """The dirty set again, in the deliveries layout (CSV)."""
    out = tmp_path_factory.mktemp("deliveries")
    return out, generator.generate(out, seed=11, defect_rate=0.02, layout="deliveries", **SMALL)


@pytest.fixture(scope="module")
def deliv_parquet(tmp_path_factory):
    out = tmp_path_factory.mktemp("deliveries-parquet")
    return out, generator.generate(out, seed=11, defect_rate=0.02, layout="deliveries",
                                   file_format="parquet", **SMALL)


def source(out: Path, name: str, ext: str = "csv") -> str:
    """SQL reading every delivery of an export as text, with its delivery name."""
    path = out / name if (out / name).is_dir() else None
    glob = f"{path}/*.{ext}" if path else f"{out}/{name}.{ext}"
    reader = (f"read_csv('{glob}', {CSV_OPTS}, filename=true)" if ext == "csv"
              else f"read_parquet('{glob}', filename=true)")
    cols = ", ".join(f"coalesce(cast({c} as varchar), '') as {c}" for c in HEADERS[name].split(","))
    return f"(select {cols}, parse_filename(filename) as delivery from {reader})"


def deliveries_df(out: Path, name: str, ext: str = "csv") -> pd.DataFrame:
    return duckdb.sql(f"select * from {source(out, name, ext)}").df()


def tree_digest(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def expected_day(name: str, df: pd.DataFrame, start: str, end: str) -> pd.Series:
    """The delivery day of each files-layout row: its date column (start day when it
    does not parse, clamped to [start, end]), the first row's day for a shared key."""
    col = DAY_COL[name]
    bad = _bad_date(df[col]) if name == "raw_ami_daily_reads" or col.endswith("_date") else _bad_ts(df[col])
    day = df[col].str[:10].where(~bad & (df[col] != ""), start).clip(start, end)
    return day.groupby([df[k] for k in KEY[name]]).transform("first")


def test_deliveries_layout_writes_daily_folders_for_events_and_single_files_for_dimensions(deliv, dirty):
    out, m = deliv
    files_out, _ = dirty
    entries = sorted(p.name for p in out.iterdir())
    assert entries == sorted([f"{n}.csv" for n in DIMENSIONS] + list(DAY_COL) + ["_manifest.json"])
    assert m["params"]["layout"] == "deliveries" and m["params"]["format"] == "csv"
    for name in DIMENSIONS:  # dimensions: the very same file as in the files layout
        assert (out / f"{name}.csv").read_bytes() == (files_out / f"{name}.csv").read_bytes()
        assert m["rows_written"][f"{name}.csv"] == m["files"][name]["raw_rows"]
    assert set(m["deliveries"]) == set(DAY_COL)
    for name in DAY_COL:
        names = sorted(p.name for p in (out / name).iterdir())
        assert names and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}\.csv", n) for n in names)
        assert SMALL["start"].isoformat() <= names[0][:10] and names[-1][:10] <= SMALL["end"].isoformat()
        assert [d["delivery"] for d in m["deliveries"][name]] == names
        for d in m["deliveries"][name]:
            raw = (out / name / d["delivery"]).read_bytes()
            assert raw.split(b"\n", 1)[0].decode() == HEADERS[name] and b"\r" not in raw
            assert raw.count(b"\n") == d["rows"] + 1 and d["rows"] > 0
        assert m["rows_written"][f"{name}/"] == sum(d["rows"] for d in m["deliveries"][name])
    assert len(list((out / "raw_ami_daily_reads").iterdir())) == (SMALL["end"] - SMALL["start"]).days + 1


def test_each_row_is_delivered_on_its_day_in_file_order(deliv, dirty):
    out, m = deliv
    files_out, _ = dirty
    start, end = SMALL["start"].isoformat(), SMALL["end"].isoformat()
    late = {(c["file"], c["primary_key"]): c for c in m["corrections"]}
    for name in DAY_COL:
        ref = read(files_out, name)
        keys = ref[KEY[name]].agg("|".join, axis=1)
        day = expected_day(name, ref, start, end)
        fixed = [late[(name, k)]["superseding_delivery"][:10] if (name, k) in late else d
                 for k, d in zip(keys, day)]
        got = deliveries_df(out, name)
        got_keys = got[KEY[name]].agg("|".join, axis=1)
        # every files-layout row, on its day, once; the extra rows are the earlier versions
        want = Counter(zip(keys, fixed))
        have = Counter(zip(got_keys, got["delivery"].str[:10]))
        assert not want - have, name
        earlier = Counter((k, c["superseded_delivery"][:10]) for (f, k), c in late.items() if f == name)
        assert have - want == earlier, name
        # rows sharing a key share a delivery (corrections aside)
        spans = got.assign(k=got_keys).groupby("k")["delivery"].nunique()
        assert set(spans[spans > 1].index) == {k for (f, k) in late if f == name}, name
        # inside a delivery the rows keep the order of the export file (the k-th copy
        # of a row is its k-th copy there; an earlier version stands where its row stood)
        cols = HEADERS[name].split(",")
        line_of = {row: i for i, row in enumerate(
            ref.assign(n=ref.groupby(cols).cumcount())[cols + ["n"]].itertuples(index=False, name=None))}
        key_line = dict(zip(keys, range(len(ref))))
        got = got.sort_values("delivery", kind="stable")
        occurrences = got.assign(n=got.groupby(cols).cumcount())[cols + ["n"]].itertuples(index=False, name=None)
        got["line"] = [line_of.get(row, key_line.get(k)) for row, k in zip(occurrences, got_keys[got.index])]
        assert got.groupby("delivery")["line"].apply(lambda s: s.is_monotonic_increasing).all(), name


def test_deliveries_hold_the_files_layout_plus_the_planted_earlier_versions(deliv, dirty):
    out, m = deliv
    files_out, _ = dirty
    con = duckdb.connect()
    late = {}
    for c in m["corrections"]:
        late.setdefault(c["file"], set()).add(c["primary_key"])
    assert set(late) == {"raw_ami_daily_reads", "raw_service_orders"}
    for name in HEADERS:
        cols = HEADERS[name]
        d = f"(select {cols} from {source(out, name)})"
        f = f"(select {cols} from {source(files_out, name)})"
        assert con.execute(f"select count(*) from ({f} except all {d})").fetchone()[0] == 0, name
        extra = con.execute(f"select * from ({d} except all {f})").df()
        truth = read(files_out, name)
        keys = extra[KEY[name]].agg("|".join, axis=1) if len(extra) else pd.Series([], dtype=str)
        assert sorted(keys) == sorted(late.get(name, ())), name
        if not len(extra):
            continue
        true = truth.assign(k=truth[KEY[name]].agg("|".join, axis=1)).set_index("k").loc[list(keys)]
        if name == "raw_ami_daily_reads":
            assert (extra["read_quality"] == "estimated").all()
            assert extra["kwh"].str.fullmatch(r"\d+\.\d{3}").all()
            assert ((extra["kwh"].astype(float).to_numpy() - true["kwh"].astype(float).to_numpy() * 0.9)
                    .__abs__() <= 0.0005 + 1e-9).all()
            assert (true["read_quality"] == "actual").all()
        else:
            assert (extra["status"] == "open").all() and (extra["completed_at"].fillna("") == "").all()
            assert (true["status"] == "completed").all()


def test_latest_delivery_per_key_gives_the_files_layout(deliv, dirty):
    out, _ = deliv
    files_out, _ = dirty
    con = duckdb.connect()
    for name in DAY_COL:
        cols, key = HEADERS[name], ", ".join(KEY[name])
        latest = f"""(select {cols} from {source(out, name)}
                      qualify delivery = max(delivery) over (partition by {key}))"""
        f = f"(select {cols} from {source(files_out, name)})"
        for a, b in ((latest, f), (f, latest)):
            assert con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0] == 0, name


def test_late_corrections_and_the_two_last_day_corrections(deliv):
    out, m = deliv
    end = SMALL["end"]
    last = f"{end.isoformat()}.csv"
    by_file = {}
    for c in m["corrections"]:
        by_file.setdefault(c["file"], []).append(c)
        old, new = (dt.date.fromisoformat(c[k][:10]) for k in ("superseded_delivery", "superseding_delivery"))
        assert old < new <= end and old < end
        assert 1 <= (new - old).days <= 3 or c["superseding_delivery"] == last
        for delivery in (c["superseded_delivery"], c["superseding_delivery"]):
            df = pd.read_csv(out / c["file"] / delivery, dtype=str, keep_default_na=False)
            assert (df[KEY[c["file"]]].agg("|".join, axis=1) == c["primary_key"]).sum() == 1
    reads = by_file["raw_ami_daily_reads"]
    lagged = [c for c in reads if (dt.date.fromisoformat(c["superseding_delivery"][:10])
                                    - dt.date.fromisoformat(c["superseded_delivery"][:10])).days <= 3]
    assert len(lagged) >= 3 and len(by_file["raw_service_orders"]) >= 2
    n_reads = m["files"]["raw_ami_daily_reads"]["kept_rows"]
    assert len(lagged) <= max(3, 0.002 * n_reads)
    on_last_day = {c["superseded_delivery"] for c in reads if c["superseding_delivery"] == last}
    assert {f"{(end - dt.timedelta(days=n)).isoformat()}.csv" for n in (3, 20)} <= on_last_day


def recount_deliveries(out: Path, name: str, ext: str = "csv") -> dict:
    """raw / kept / duplicate / rejected / superseded, recounted from the deliveries:
    the row rules apply within a delivery; a kept row is superseded when its key
    is kept again in a later delivery."""
    df = deliveries_df(out, name, ext) if (out / name).is_dir() else read(out, name).assign(delivery="-")
    dedup = df.drop_duplicates()
    bad = row_problems(name, dedup.drop(columns="delivery"))
    conflict = dedup.duplicated(KEY[name] + ["delivery"], keep=False)
    ok = dedup[~(bad | conflict)]
    latest = ok.groupby(KEY[name])["delivery"].transform("max")
    superseded = int((ok["delivery"] < latest).sum())
    return {"raw_rows": len(df), "duplicate_rows": len(df) - len(dedup),
            "rejected_rows": int((bad | conflict).sum()), "kept_rows": len(ok) - superseded,
            "superseded_rows": superseded}


def test_manifest_counts_reconcile_in_the_deliveries_layout(deliv, dirty):
    out, m = deliv
    _, files_m = dirty
    on_disk = json.loads((out / "_manifest.json").read_text(encoding="utf-8"))
    assert on_disk["files"] == m["files"] and on_disk["corrections"] == m["corrections"]
    assert on_disk["deliveries"] == m["deliveries"] and on_disk["integrity"] == m["integrity"]
    for name in HEADERS:
        rec = m["files"][name]
        assert rec["raw_rows"] == (rec["kept_rows"] + rec["duplicate_rows"] + rec["rejected_rows"]
                                   + rec["superseded_rows"]), name
        assert rec["superseded_rows"] == sum(c["file"] == name for c in m["corrections"])
        for k in ("kept_rows", "duplicate_rows", "rejected_rows"):
            assert rec[k] == files_m["files"][name][k], (name, k)
        recount = recount_deliveries(out, name)
        assert recount == {k: rec[k] for k in recount}, (name, recount, rec)


def parquet_types(path_glob: str) -> dict:
    return dict(duckdb.sql(f"select column_name, column_type from (describe select * from "
                           f"read_parquet('{path_glob}'))").fetchall())


def test_parquet_columns_have_the_contract_type_unless_a_defect_lives_there(deliv_parquet, deliv, dirty):
    out, m = deliv_parquet
    files_out, _ = dirty
    assert m["params"]["format"] == "parquet"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.parquet" for n in DIMENSIONS] + list(DAY_COL) + ["_manifest.json"])
    contract = {"date": "DATE", "timestamp": "TIMESTAMP", "decimal": "DOUBLE", "integer": "BIGINT",
                "boolean": "BOOLEAN"}
    checks = {"date": _bad_date, "timestamp": _bad_ts,
              "decimal": lambda s: (s != "") & ~s.str.fullmatch(r"-?\d+(\.\d+)?"),
              "integer": lambda s: (s != "") & ~s.str.fullmatch(r"-?\d+"),
              "boolean": lambda s: (s != "") & ~s.isin(["true", "false"])}
    kinds = {}
    for kind, table in (("date", DATE_COLS), ("timestamp", TS_COLS), ("decimal", DEC_COLS),
                        ("integer", INT_COLS), ("boolean", BOOL_COLS)):
        for name, cols in table.items():
            for c in cols:
                kinds[(name, c)] = kind
    seen = set()
    for name in HEADERS:
        ref = read(files_out, name)
        files = sorted((out / name).glob("*.parquet")) if name in DAY_COL else [out / f"{name}.parquet"]
        schemas = {tuple(parquet_types(str(f)).items()) for f in files}
        assert len(schemas) == 1, name  # decided per export, not per file
        types = dict(next(iter(schemas)))
        assert list(types) == HEADERS[name].split(",")
        for c, t in types.items():
            kind = kinds.get((name, c))
            want = "VARCHAR" if kind is None or checks[kind](ref[c]).any() else contract[kind]
            assert t == want, (name, c, t, want)
            seen.add(t == "VARCHAR" and kind is not None)
        # empty text is NULL, and the values are those of the CSV export
        glob = f"{out}/{name}/*.parquet" if name in DAY_COL else f"{out}/{name}.parquet"
        empties = " + ".join(f"count(*) filter ({c} = '')" for c, t in types.items() if t == "VARCHAR")
        assert duckdb.sql(f"select {empties} from read_parquet('{glob}')").fetchone()[0] == 0
    assert seen == {True, False}  # typed clean columns and text columns holding defects
    # each Parquet delivery holds the rows of its CSV twin, in the same order
    con = duckdb.connect()
    for name in HEADERS:
        pq_glob = f"{out}/{name}/*.parquet" if name in DAY_COL else f"{out}/{name}.parquet"
        types = parquet_types(pq_glob)
        as_csv = ", ".join(f"try_cast({c} as {t})" if t != "VARCHAR" else c for c, t in types.items())
        pq = f"""(select parse_filename(filename, true) as d, file_row_number as i, {', '.join(types)}
                  from read_parquet('{pq_glob}', filename=true, file_row_number=true))"""
        csv_glob = pq_glob.replace(str(out), str(deliv[0])).replace(".parquet", ".csv")
        cs = f"""(with c as (select row_number() over () as rn, * from read_csv('{csv_glob}', {CSV_OPTS}, filename=true))
                  select parse_filename(filename, true) as d, rn - min(rn) over (partition by filename) as i, {as_csv}
                  from c)"""
        for a, b in ((pq, cs), (cs, pq)):
            assert con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0] == 0, name
        assert con.execute(f"select count(*) from {pq}").fetchone()[0] == m["files"][name]["raw_rows"]
    recount = recount_deliveries(out, "raw_service_orders", "parquet")
    assert recount == {k: m["files"]["raw_service_orders"][k] for k in recount}


def test_files_layout_parquet_of_a_clean_set_is_fully_typed(tmp_path):
    m = generator.generate(tmp_path, seed=4, file_format="parquet", **{**TINY, "defect_rate": 0.0})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{n}.parquet" for n in HEADERS] + ["_manifest.json"])
    assert m["rows_written"] == {f"{n}.parquet": m["files"][n]["raw_rows"] for n in HEADERS}
    assert m["corrections"] == [] and m["deliveries"] == {}
    types = parquet_types(f"{tmp_path}/raw_bills.parquet")
    assert types == {"bill_id": "VARCHAR", "account_id": "VARCHAR", "billing_run_id": "VARCHAR",
                     "bill_date": "DATE", "service_period_start": "DATE", "service_period_end": "DATE",
                     "billed_kwh": "DOUBLE", "amount_due": "DOUBLE", "is_estimated": "BOOLEAN",
                     "corrects_bill_id": "VARCHAR"}
    assert parquet_types(f"{tmp_path}/raw_contacts.parquet")["talk_seconds"] == "BIGINT"
    assert parquet_types(f"{tmp_path}/raw_surveys.parquet")["responded_at"] == "TIMESTAMP"
    csv_out = tmp_path / "csv"
    generator.generate(csv_out, seed=4, **{**TINY, "defect_rate": 0.0})
    for name in HEADERS:  # same rows, same order
        cols = ", ".join(f"coalesce(cast({c} as varchar), '')" for c in HEADERS[name].split(","))
        pq = duckdb.sql(f"select {cols} from read_parquet('{tmp_path}/{name}.parquet')").fetchall()
        dec = DEC_COLS.get(name, [])
        ref = read(csv_out, name)
        for c in dec:  # decimals come back as doubles: 12.50 -> 12.5
            ref[c] = ref[c].map(lambda v: "" if v == "" else repr(float(v)))
        assert pq == [tuple(r) for r in ref.itertuples(index=False)], name


def test_deliveries_are_deterministic_by_seed(tmp_path):
    def rows(out):  # every Parquet file's rows, in file order
        return {name: duckdb.sql(f"""select parse_filename(filename), * exclude (filename)
                                     from read_parquet('{out}/{name}{"/*" if name in DAY_COL else ""}.parquet',
                                                       filename=true, file_row_number=true)
                                     order by filename, file_row_number""").fetchall() for name in HEADERS}

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        generator.generate(out, seed=seed, layout="deliveries", file_format="parquet", **TINY)
    ra, rb, rc = rows(a), rows(b), rows(c)
    assert ra == rb and ra != rc
    assert (a / "_manifest.json").read_bytes() == (b / "_manifest.json").read_bytes()
    d, e = tmp_path / "d", tmp_path / "e"
    for out in (d, e):
        generator.generate(out, seed=5, layout="deliveries", **TINY)
    assert tree_digest(d) == tree_digest(e)


def test_regenerating_in_another_form_replaces_the_earlier_form(tmp_path):
    generator.generate(tmp_path, seed=2, layout="deliveries", **TINY)
    generator.generate(tmp_path, seed=2, file_format="parquet", **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{n}.parquet" for n in HEADERS] + ["_manifest.json"])
    generator.generate(tmp_path, seed=2, **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{n}.csv" for n in HEADERS] + ["_manifest.json"])


def test_cli_writes_parquet_deliveries(tmp_path):
    out = tmp_path / "cli"
    res = subprocess.run([sys.executable, "-m", "cx_warehouse.generator", "--out", str(out),
                          "--accounts", "20", "--start", "2024-01-01", "--end", "2024-02-29",
                          "--seed", "9", "--format", "parquet", "--layout", "deliveries"],
                         cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 1 and "bills=" in res.stdout
    m = json.loads((out / "_manifest.json").read_text())
    assert (m["params"]["format"], m["params"]["layout"]) == ("parquet", "deliveries")
    assert len(list(out.glob("raw_*.parquet"))) == len(DIMENSIONS)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(DAY_COL)
    assert (out / "raw_bills" / "2024-02-01.parquet").exists() or list((out / "raw_bills").glob("*.parquet"))


@pytest.mark.parametrize("args", [["--format", "xlsx"], ["--layout", "monthly"], ["--format"]])
def test_cli_rejects_bad_format_or_layout_with_exit_2(tmp_path, args, capsys):
    with pytest.raises(SystemExit) as e:
        generator.main(["--out", str(tmp_path / "x"), *args])
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError):
        generator.generate(tmp_path / "y", file_format="xlsx")
    with pytest.raises(ValueError):
        generator.generate(tmp_path / "y", layout="monthly")


# --- the numeric reads path (cx_warehouse.generator.reads) ---------------------
def test_bulk_draws_replay_one_at_a_time_draws_of_numpy():
    """reads.Draws gives exactly the numbers of rng.integers(0, b) called one at
    a time, rejections included, and leaves the generator where they would."""
    import numpy as np
    from cx_warehouse.generator.reads import Draws

    pick = np.random.default_rng(0)
    for trial in range(20):
        # large bounds make Lemire rejections frequent; 1 draws nothing
        bounds = pick.choice([1, 2, 3, 5, 60, 3_000_001, 2 ** 31 + 1, 2 ** 32 - 5], size=400).tolist()
        ref = np.random.default_rng(trial)
        ref.integers(0, 10) if trial % 2 else None  # start with a half-used 64-bit word
        want = [int(ref.integers(0, b)) for b in bounds]
        after_ref = (ref.random(3).tolist(), ref.integers(0, 7, 5).tolist(), ref.permutation(9).tolist())
        rng = np.random.default_rng(trial)
        rng.integers(0, 10) if trial % 2 else None
        d = Draws(rng)
        got, _ = d.seq(np.array(bounds[:150]))
        got = got.tolist() + [d.one(b) for b in bounds[150:200]] + d.seq(np.array(bounds[200:]))[0].tolist()
        d.close()
        assert got == want
        assert (rng.random(3).tolist(), rng.integers(0, 7, 5).tolist(), rng.permutation(9).tolist()) == after_ref


def test_manifest_defects_in_the_file_equal_the_returned_ones(dirty):
    out, manifest = dirty
    on_disk = json.loads((out / "_manifest.json").read_text())
    assert on_disk["defects"] == manifest["defects"]
    assert manifest["planted_defects"] == len(manifest["defects"])
    assert any(d["file"] == "raw_ami_daily_reads" for d in manifest["defects"])


def test_cli_manifest_without_materialised_defects(tmp_path):
    m = generator.generate(tmp_path, seed=3, materialize_defects=False, **TINY)
    assert "defects" not in m
    assert m["planted_defects"] == len(json.loads((tmp_path / "_manifest.json").read_text())["defects"])
    assert set(m["timings"]) >= {"reads simulated", "reads written", "manifest"}


def test_parquet_deliveries_hold_the_manifest_row_counts_and_the_csv_rows(deliv_parquet, deliv):
    out, m = deliv_parquet
    csv_out, _ = deliv
    for name in DAY_COL:
        counts = dict(duckdb.sql(f"""select parse_filename(filename), count(*)
                                     from read_parquet('{out}/{name}/*.parquet', filename=true)
                                     group by all""").fetchall())
        listed = {d["delivery"]: d["rows"] for d in m["deliveries"][name]}
        assert {k: v for k, v in listed.items() if v} == counts, name
        assert sum(listed.values()) == m["rows_written"][f"{name}/"] == m["files"][name]["raw_rows"]
    # the reads: the same text values, file by file, row by row, as the CSV deliveries
    cols = "meter_id, cast(read_date as varchar), read_quality"
    pq = duckdb.sql(f"""select parse_filename(filename, true), {cols}
                        from read_parquet('{out}/raw_ami_daily_reads/*.parquet', filename=true,
                                          file_row_number=true)
                        order by filename, file_row_number""").fetchall()
    cv = duckdb.sql(f"""select parse_filename(filename, true), {cols}
                        from read_csv('{csv_out}/raw_ami_daily_reads/*.csv', filename=true, all_varchar=true)
                        """).fetchall()
    assert pq == cv


# --- id prefix (two runs landed side by side) ---------------------------------
ID_COLS = {
    "raw_customers": ["customer_id"],
    "raw_accounts": ["account_id", "customer_id", "premise_id"],
    "raw_meter_installs": ["meter_id", "premise_id"],
    "raw_ami_daily_reads": ["meter_id"],
    "raw_billing_runs": ["billing_run_id"],
    "raw_bills": ["bill_id", "account_id", "billing_run_id", "corrects_bill_id"],
    "raw_billing_exceptions": ["exception_id", "billing_run_id", "bill_id", "account_id"],
    "raw_payments": ["payment_id", "account_id"],
    "raw_service_orders": ["service_order_id", "account_id"],
    "raw_contacts": ["contact_id", "ticket_id", "account_id", "agent_id"],
    "raw_portal_users": ["portal_user_id", "account_id"],
    "raw_portal_events": ["event_id", "portal_user_id"],
    "raw_delivery_preferences": ["account_id"],
    "raw_surveys": ["survey_id", "account_id", "trigger_id"],
}


def _with_prefix(df: pd.DataFrame, name: str, prefix: str) -> pd.DataFrame:
    df = df.copy()
    for c in ID_COLS[name]:
        df[c] = df[c].where(df[c] == "", prefix + df[c])
    return df


def test_id_prefix_prefixes_every_id_and_changes_nothing_else(dirty, tmp_path):
    out0, m0 = dirty
    out = tmp_path / "prefixed"
    m = generator.generate(out, seed=11, defect_rate=0.02, id_prefix="B", **SMALL)
    assert m["params"]["id_prefix"] == "B" and "id_prefix" not in m0["params"]
    assert json.loads((out / "_manifest.json").read_text())["params"]["id_prefix"] == "B"
    assert m["rows_written"] == m0["rows_written"]
    assert [f for f in m["files"].values()] == [f for f in m0["files"].values()]
    for name in HEADERS:
        df = read(out, name)
        ok = kept(out, name)
        for c in ID_COLS[name]:
            # every non-empty id, in kept and in defective rows
            ids = df.loc[df[c] != "", c]
            assert ids.str.startswith("B").all(), (name, c, ids[~ids.str.startswith("B")].head())
            assert ok.loc[ok[c] != "", c].str.startswith("B").all(), (name, c)
        # the same rows as without the prefix, but for the prefix on the ids
        expected = _with_prefix(read(out0, name), name, "B")
        pd.testing.assert_frame_equal(df, expected, check_names=True)
    # the planted keys of the manifest carry the prefix too
    for key in ("defects", "orphans", "integrity"):
        assert all(d["primary_key"].startswith("B") for d in m[key] if d["primary_key"]), key
    # references still resolve: reads -> installs, accounts -> premises / customers, ...
    meters = set(kept(out, "raw_meter_installs")["meter_id"])
    orphan_reads = {o["primary_key"] for o in m["orphans"] if o["file"] == "raw_ami_daily_reads"}
    rd = kept(out, "raw_ami_daily_reads")
    rd = rd[~(rd["meter_id"] + "|" + rd["read_date"]).isin(orphan_reads)]
    assert len(rd) and rd["meter_id"].isin(meters).all()
    accounts = kept(out, "raw_accounts")
    assert accounts["customer_id"].isin(set(kept(out, "raw_customers")["customer_id"])).all()
    orphan_keys = {(o["file"], o["primary_key"]) for o in m["orphans"]}
    for name in ("raw_bills", "raw_payments", "raw_service_orders", "raw_portal_users"):
        df = kept(out, name)
        df = df[[(name, k) not in orphan_keys for k in df[KEY[name][0]]]]
        assert df["account_id"].isin(set(accounts["account_id"])).all(), name
    bills = kept(out, "raw_bills")
    assert bills["billing_run_id"].isin(set(kept(out, "raw_billing_runs")["billing_run_id"])).all()
    ev = kept(out, "raw_portal_events")
    assert ev["portal_user_id"].isin(set(kept(out, "raw_portal_users")["portal_user_id"])).all()


def test_id_prefix_in_parquet_deliveries_and_the_cli(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generator.generate(a, seed=8, layout="deliveries", file_format="parquet", **TINY)
    assert generator.main(["--out", str(b), "--accounts", str(TINY["accounts"]), "--start", "2024-01-01",
                           "--end", "2024-02-29", "--seed", "8", "--defect-rate", "0.02",
                           "--layout", "deliveries", "--format", "parquet", "--id-prefix", "B"]) == 0
    ma, mb = (json.loads((p / "_manifest.json").read_text()) for p in (a, b))
    assert mb["params"]["id_prefix"] == "B" and "id_prefix" not in ma["params"]
    assert ma["rows_written"] == mb["rows_written"]
    assert [d["delivery"] for d in mb["deliveries"]["raw_ami_daily_reads"]] == \
        [d["delivery"] for d in ma["deliveries"]["raw_ami_daily_reads"]]
    for name in HEADERS:
        cols = ID_COLS[name]
        sel = ", ".join(cols)
        pa = duckdb.sql(f"select {sel} from {source(a, name, 'parquet')}").fetchall()
        pb = duckdb.sql(f"select {sel} from {source(b, name, 'parquet')}").fetchall()
        assert len(pa) == len(pb), name
        assert pb == [tuple(v and "B" + v for v in row) for row in pa], name


@pytest.mark.parametrize("bad", ["B/", "a b", "B'", "é"])
def test_id_prefix_rejects_unsafe_text(tmp_path, bad, capsys):
    assert generator.main(["--out", str(tmp_path / "x"), "--id-prefix", bad]) == 2
    assert "--id-prefix" in capsys.readouterr().err
    with pytest.raises(ValueError):
        generator.generate(tmp_path / "y", id_prefix=bad, **TINY)
