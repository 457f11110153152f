"""Hand-made CIS export sets for the smart-meter (AMI) integrity checks.

`write_exports(out, bad=False)` writes the 14 contract CSVs (headers from
cx_warehouse.contract.load_contract()) into `out`. The clean set has a
regular population plus the benign versions of every tricky case (a meter
exchange and a move-out/move-in on adjacent days, a bill spanning the
exchange); the bad set is the same data with one planted defect per check.

Populations are sized so that every planted defect stays below its default
error share (the checks WARN with default vars) while every population is
above the default ami_error_min_population (20), so an error share of 0 makes
each check ERROR:

  staged install rows 119 -> 1 overlapping pair = 0.84 % < 1 %
  kept install rows   116 -> 1 premise-meter pair = 0.86 % < 1 %
  kept accounts       117 -> 1 premise-account pair = 0.85 % < 1 %
  kept reads        ~4800 -> 43 orphan reads < 5 %, 2 vacant reads < 5 %
  February reads: 22 of 115 meters estimated = 19 % (warn 10 %, error 30 %)
  bills: 111 fully covered, 27 of them 10 % over the measured kWh
         -> match rate 0.757 < 0.90 (the gate, an error at any size)

PLANTED describes the planted defects so the tests can assert the stored
failing rows name exactly these meters / premises / accounts.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from cx_warehouse.contract import load_contract

D = dt.date
READS_FROM = D(2024, 1, 1)  # first read day = first event day = reporting window start
AS_OF = D(2024, 2, 10)      # last read day = last event day = as-of date
N_REGULAR = 110             # regular premises P001.. with meter M001.. and account A001..
DAILY_KWH = 10

# regular meters carrying planted read defects (bad set only)
DUP_METER, DUP_DAY = "M005", D(2024, 1, 5)          # two conflicting rows for one read key
EXACT_DUP_METER = "M006"                            # an exact copy (kept once, not a failure)
NEG_METER, NEG_DAY = "M007", D(2024, 1, 7)          # kWh -3
GAP_METER, GAP_DAYS = "M008", (D(2024, 2, 3), D(2024, 2, 5))  # no reads on these days (inclusive)


def _regular(i: int) -> tuple[str, str, str]:
    return f"M{i:03d}", f"P{i:03d}", f"A{i:03d}"


def estimated_in_february(i: int) -> bool:
    return i % 5 == 0


def overbilled(i: int) -> bool:
    return i % 4 == 0


PLANTED = {
    # ami_orphan_reads, grouped by meter: never installed, and read on the
    # removal day (M_DUP's reads fall in the overlap of its two installs: they
    # are unattributed as ambiguous_premise, not orphans)
    "orphan_meters": {"M_GHOST", "M_EXCH_OLD"},
    "ambiguous_meters": {"M_DUP"},
    # an install that never reports (a manually read meter): warned, not a gap
    "non_reporting_meters": {"M_MANUAL"},
    "vacant_premise": ("P_MOVE", D(2024, 1, 16), D(2024, 1, 17)),
    "meter_install_overlap": ("M_DUP", {"P_DUP", "P_DUP2"}),
    "premise_meter_overlap": ("P_TWO", {"M_TWO_A", "M_TWO_B"}),
    "premise_account_overlap": ("P_SHARED", {"A_SHARED_1", "A_SHARED_2"}),
    "duplicate_read_keys": {f"{DUP_METER}|{DUP_DAY.isoformat()}"},
    "negative_kwh_meters": {NEG_METER},
    # gaps: the planted one plus the day of each rejected read (a rejected read is no read)
    "gaps": {
        (GAP_METER, GAP_DAYS[0], GAP_DAYS[1]),
        (DUP_METER, DUP_DAY, DUP_DAY),
        (NEG_METER, NEG_DAY, NEG_DAY),
    },
    "estimated_months": {D(2024, 2, 1)},
    "gate_periods": {("billing_run", "R1"), ("month", "2024-01-01")},
    "unmatched_bills": {f"B{i:03d}" for i in range(1, N_REGULAR + 1)
                        if overbilled(i) and _regular(i)[0] not in (DUP_METER, NEG_METER)},
    # bills left not fully covered by rejected reads / rejected installs
    "uncovered_bills": {"B005", "B007", "B_DUP"},
}


def _days(first: D, last: D):
    d = first
    while d <= last:
        yield d
        d += dt.timedelta(days=1)


def build_rows(bad: bool) -> dict[str, list[dict]]:
    customers = [
        {"customer_id": f"C{k}", "full_name": f"Customer {k}", "email": f"c{k}@example.com",
         "phone": f"555-010-000{k}", "birth_date": f"19{60 + k}-05-0{k}"}
        for k in range(1, 6)
    ]
    accounts: list[dict] = []
    installs: list[dict] = []

    def account(acc, premise, opened="2020-01-01", closed=""):
        accounts.append({"account_id": acc, "customer_id": f"C{len(accounts) % 5 + 1}", "premise_id": premise,
                         "account_class": "residential", "rate_code": "RES", "service_area": "NORTH",
                         "opened_date": opened, "closed_date": closed})

    def install(meter, premise, installed="2020-01-01", removed=""):
        installs.append({"meter_id": meter, "premise_id": premise,
                         "installed_date": installed, "removed_date": removed})

    for i in range(1, N_REGULAR + 1):
        m, p, a = _regular(i)
        install(m, p)
        account(a, p)
    # meter exchange on one day (M_EXCH_OLD removed the day M_EXCH_NEW is installed)
    install("M_EXCH_OLD", "P_EXCH", removed="2024-01-15")
    install("M_EXCH_NEW", "P_EXCH", installed="2024-01-15")
    account("A_EXCH", "P_EXCH")
    # move-out / move-in: adjacent in the clean set, a two-day vacancy in the bad set
    move_in = "2024-01-18" if bad else "2024-01-16"
    install("M_MOVE", "P_MOVE")
    account("A_MOVE_OUT", "P_MOVE", closed="2024-01-16")
    account("A_MOVE_IN", "P_MOVE", opened=move_in)
    # one meter, one premise; bad: a second, overlapping install of the same
    # meter elsewhere (another installed_date, so another key: kept, reported)
    install("M_DUP", "P_DUP")
    if bad:
        install("M_DUP", "P_DUP2", installed="2023-06-01")
        # bad: a meter installed on a premise without any read (non-reporting)
        install("M_MANUAL", "P_MANUAL")
    account("A_DUP", "P_DUP")
    # premise with one meter; bad: a second meter on it from 2024-01-20
    install("M_TWO_A", "P_TWO")
    if bad:
        install("M_TWO_B", "P_TWO", installed="2024-01-20")
    account("A_TWO", "P_TWO")
    # premise with one account; bad: a second account active from 2024-01-10
    install("M_SHARED", "P_SHARED")
    account("A_SHARED_1", "P_SHARED")
    if bad:
        account("A_SHARED_2", "P_SHARED", opened="2024-01-10")

    reads: list[dict] = []
    for row in installs:
        m = row["meter_id"]
        if (m == "M_DUP" and row["premise_id"] == "P_DUP2") or m == "M_MANUAL":
            continue  # one read series per meter; M_MANUAL is never read
        first = max(D.fromisoformat(row["installed_date"]), READS_FROM)
        last = D.fromisoformat(row["removed_date"]) - dt.timedelta(days=1) if row["removed_date"] else AS_OF
        idx = int(m[1:]) if m[1:].isdigit() else None
        for d in _days(first, last):
            if bad and m == GAP_METER and GAP_DAYS[0] <= d <= GAP_DAYS[1]:
                continue
            quality = "estimated" if d.day == 17 else "actual"
            if bad and d.month == 2 and idx is not None and estimated_in_february(idx):
                quality = "estimated"
            kwh = "-3" if (bad and m == NEG_METER and d == NEG_DAY) else str(DAILY_KWH)
            reads.append({"meter_id": m, "read_date": d.isoformat(), "kwh": kwh, "read_quality": quality})
    if bad:
        reads.append({"meter_id": DUP_METER, "read_date": DUP_DAY.isoformat(), "kwh": "11", "read_quality": "actual"})
        reads.append({"meter_id": EXACT_DUP_METER, "read_date": "2024-01-05", "kwh": str(DAILY_KWH),
                      "read_quality": "actual"})
        reads.append({"meter_id": "M_GHOST", "read_date": "2024-01-05", "kwh": "10", "read_quality": "actual"})
        reads.append({"meter_id": "M_EXCH_OLD", "read_date": "2024-01-15", "kwh": "10", "read_quality": "actual"})

    bills: list[dict] = []

    def bill(bill_id, acc, start, end, kwh):
        bills.append({"bill_id": bill_id, "account_id": acc, "billing_run_id": "R1", "bill_date": "2024-01-31",
                      "service_period_start": start, "service_period_end": end, "billed_kwh": str(kwh),
                      "amount_due": "45.50", "is_estimated": "false", "corrects_bill_id": ""})

    for i in range(1, N_REGULAR + 1):
        kwh = 300
        if i % 7 == 0:
            kwh = 305  # within the 2 % tolerance: still matched
        if bad and overbilled(i):
            kwh = 330  # 10 % over the measured 300 kWh
        bill(f"B{i:03d}", _regular(i)[2], "2024-01-01", "2024-01-30", kwh)
    bill("B_EXCH", "A_EXCH", "2024-01-01", "2024-01-30", 300)      # spans the exchange
    bill("B_MOVE_OUT", "A_MOVE_OUT", "2024-01-01", "2024-01-15", 150)
    bill("B_MOVE_IN", "A_MOVE_IN", move_in, "2024-01-30", 130 if bad else 150)
    bill("B_DUP", "A_DUP", "2024-01-01", "2024-01-30", 300)

    return {
        "raw_customers": customers,
        "raw_accounts": accounts,
        "raw_meter_installs": installs,
        "raw_ami_daily_reads": reads,
        "raw_billing_runs": [{"billing_run_id": "R1", "run_date": "2024-01-31", "bill_cycle": "01"}],
        "raw_bills": bills,
        "raw_billing_exceptions": [
            {"exception_id": "E1", "billing_run_id": "R1", "bill_id": "B001", "account_id": "A001",
             "exception_type": "missing_read", "raised_at": "2024-01-31 08:00:00", "resolved_at": ""}],
        "raw_payments": [
            {"payment_id": "Y1", "account_id": "A001", "paid_at": f"{AS_OF.isoformat()} 10:00:00",
             "amount": "45.50", "payment_channel": "portal"}],
        "raw_service_orders": [
            {"service_order_id": "S1", "account_id": "A001", "order_type": "investigation", "status": "completed",
             "created_at": "2024-01-05 09:00:00", "completed_at": "2024-01-06 09:00:00"}],
        "raw_contacts": [
            {"contact_id": "K1", "ticket_id": "T1", "account_id": "A001", "caller_phone": "", "channel": "phone",
             "reason_code": "high_bill", "started_at": f"{READS_FROM.isoformat()} 09:00:00", "agent_id": "G1",
             "talk_seconds": "300", "hold_seconds": "20", "wrap_seconds": "60", "resolution_status": "resolved"}],
        "raw_portal_users": [
            {"portal_user_id": "U1", "account_id": "A001", "email": "c1@example.com",
             "registered_at": "2023-01-01 10:00:00"}],
        "raw_portal_events": [
            {"event_id": "V1", "portal_user_id": "U1", "event_at": "2024-02-03 10:00:00", "channel": "web",
             "event_type": "login"}],
        "raw_delivery_preferences": [
            {"account_id": "A001", "delivery_method": "ebill", "effective_date": "2024-01-15"}],
        "raw_surveys": [
            {"survey_id": "Q1", "account_id": "A001", "trigger_type": "contact", "trigger_id": "K1",
             "sent_at": "2024-01-02 10:00:00", "responded_at": "2024-01-02 12:00:00", "score": "5"}],
    }


def write_exports(out: Path, bad: bool) -> Path:
    """Write the 14 contract CSVs for the clean (bad=False) or planted (bad=True) set."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = build_rows(bad)
    exports = load_contract()
    missing = {e.name for e in exports} - set(rows)
    extra = set(rows) - {e.name for e in exports}
    assert not missing and not extra, f"the builder and the contract disagree: missing {missing}, extra {extra}"
    for export in exports:
        with (out / export.file_name).open("w", newline="", encoding="utf-8") as fh:
            # a column the contract adds later is written empty; a column the
            # contract dropped makes DictWriter fail loudly
            writer = csv.DictWriter(fh, fieldnames=export.column_names, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows[export.name])
    return out
