"""Source freshness catches a stale feed; the cadence selectors pick the right models."""
from __future__ import annotations

import csv
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cx_warehouse.contract import PROJECT_DIR, load_contract
from cx_warehouse.pipeline import dbt_invocation

from _warehouse import SHARED_PARSE_NAME

EVENT_COLUMNS = {
    "raw_ami_daily_reads": "read_date", "raw_billing_runs": "run_date", "raw_bills": "bill_date",
    "raw_payments": "paid_at", "raw_service_orders": "created_at", "raw_contacts": "started_at",
    "raw_portal_events": "event_at", "raw_surveys": "sent_at",
}


def write_exports(raw: Path, event_time: datetime) -> None:
    """One row per export whose event column holds `event_time`; other columns get a filler."""
    raw.mkdir(parents=True, exist_ok=True)
    for export in load_contract():
        row = []
        for col in export.columns:
            if col.cis_type == "date":
                row.append(event_time.strftime("%Y-%m-%d"))
            elif col.cis_type == "timestamp":
                row.append(event_time.strftime("%Y-%m-%d %H:%M:%S"))
            else:
                row.append("1")
        with (raw / export.file_name).open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(export.column_names)
            w.writerow(row)


def dbt(args: list[str], tmp_path: Path, raw_dir: Path | None = None) -> subprocess.CompletedProcess:
    # (a warehouse file named like the delivery chains' working states: their profile, so their parse)
    call = dbt_invocation([*args, "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                          tmp_path / SHARED_PARSE_NAME, raw_dir=raw_dir)
    return subprocess.run(**call, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def ls_dir(tmp_path_factory) -> Path:
    """One target folder (and warehouse path) for the three `dbt ls`: the
    second and third reuse the first one's parse (dbt's partial parsing)."""
    return tmp_path_factory.mktemp("selectors")


def test_every_event_export_has_freshness():
    import yaml

    doc = yaml.safe_load((PROJECT_DIR / "models/staging/cis/_cis__sources.yml").read_text())
    tables = {t["name"]: t for t in doc["sources"][0]["tables"]}
    for name, column in EVENT_COLUMNS.items():
        cfg = tables[name]["config"]
        assert column in cfg["loaded_at_field"]
        assert cfg["freshness"]["error_after"]["count"] >= cfg["freshness"]["warn_after"]["count"]


def test_fresh_feeds_pass_and_a_stale_feed_fails_naming_the_export(tmp_path):
    now = datetime.now().replace(microsecond=0)
    fresh = tmp_path / "fresh"
    write_exports(fresh, now - timedelta(hours=1))
    ok = dbt(["source", "freshness"], tmp_path, raw_dir=fresh)
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert "PASS" in ok.stdout

    stale = tmp_path / "stale"
    write_exports(stale, now - timedelta(hours=1))
    # only the contacts feed stops arriving: 5 days old, error threshold 3 days
    path = stale / "raw_contacts.csv"
    old = (now - timedelta(days=5)).strftime("%Y-%m-%d %H:%M:%S")
    text = path.read_text().splitlines()
    header = text[0].split(",")
    values = text[1].split(",")
    values[header.index("started_at")] = old
    path.write_text(text[0] + "\n" + ",".join(values) + "\n")
    bad = dbt(["source", "freshness"], tmp_path, raw_dir=stale)
    assert bad.returncode != 0
    stale_lines = [ln for ln in bad.stdout.splitlines() if "ERROR STALE" in ln]
    assert len(stale_lines) == 1 and "raw_contacts" in stale_lines[0], bad.stdout[-2000:]


@pytest.mark.parametrize("selector, present, absent", [
    ("billing_run", ["fct_bill_accuracy_by_billing_run", "fct_billing_exceptions_by_run", "fct_ami_usage_match",
                     "dq_row_reconciliation"],
     ["fct_cx_metrics", "fct_survey_triggers", "fct_channel_mix", "fct_ticket_resolution"]),
    ("daily", ["fct_cx_metrics", "fct_csat_rolling_13w", "fct_survey_triggers", "fct_survey_outcomes",
               "fct_channel_mix", "fct_ticket_resolution"],
     ["fct_ami_usage_match", "fct_bill_accuracy_by_billing_run", "fct_billing_exceptions_by_run"]),
    ("monthly", ["fct_cx_metrics", "fct_ami_usage_match", "fct_survey_outcomes", "dim_accounts", "fct_channel_mix",
                 "fct_billing_exceptions_by_run", "fct_ticket_resolution"], []),
])
def test_cadence_selectors(ls_dir, selector, present, absent):
    proc = dbt(["ls", "--selector", selector, "--resource-type", "model", "--output", "name", "--quiet"], ls_dir)
    assert proc.returncode == 0, proc.stdout[-2000:]
    names = set(proc.stdout.split())
    for n in present:
        assert n in names, (selector, n)
    for n in absent:
        assert n not in names, (selector, n)


def test_only_make_run_vouches_that_the_settings_are_the_last_builds(monkeypatch, tmp_path):
    """CX_SAME_SETTINGS=1 lets a model trust that a table not rebuilt since its last run
    holds nothing new (cx_rebuilt_since_last_run, DECISIONLOG 133). dbt gets it only when
    the caller says so (`make run` selecting by the changed exports), never from a shell
    that happens to have it set."""
    monkeypatch.setenv("CX_SAME_SETTINGS", "1")
    assert "CX_SAME_SETTINGS" not in dbt_invocation(["build"], tmp_path / "w.duckdb")["env"]
    assert dbt_invocation(["build"], tmp_path / "w.duckdb", same_settings=True)["env"]["CX_SAME_SETTINGS"] == "1"
