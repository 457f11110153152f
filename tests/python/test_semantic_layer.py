"""The semantic layer (MetricFlow) against the published marts on the sample:
every metric x month x segment type that fct_cx_metrics holds, and a
combination it does not hold (account class x contact reason) as a ratio of
sums of the entity-grain records. Nothing is trusted: each metric is checked."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from _warehouse import PROJECT, query

BIN = Path(os.sys.executable).parent
SIX = ["csat", "first_contact_resolution", "self_service_adoption", "bill_accuracy", "average_handle_time",
       "ebill_adoption"]
ALL = SIX + ["inbound_contact_rate"]
ACCOUNT_SEGMENTS = ["account_class", "rate_code", "service_area", "age_band"]


def _env(db: Path) -> dict:
    return {**os.environ, "DUCKDB_PATH": str(db), "DBT_PROFILES_DIR": str(PROJECT),
            "CX_DUCKDB_MEMORY_LIMIT": "3GB", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}


@pytest.fixture(scope="module")
def sample_db(sample_build, tmp_path_factory) -> Path:
    """A private copy of the session's sample build (mf opens it through dbt's
    adapter), with its semantic manifest where `mf` reads it (target/). The
    copy keeps the file name: the manifest's relations name its catalog."""
    db = tmp_path_factory.mktemp("semantic") / Path(sample_build["db"]).name
    shutil.copyfile(sample_build["db"], db)
    built = Path(sample_build["target"]) / "semantic_manifest.json"
    current = PROJECT / "target" / "semantic_manifest.json"
    if built != current:
        current.parent.mkdir(exist_ok=True)
        tmp = current.with_name(f".semantic_manifest.{os.getpid()}.json")
        shutil.copyfile(built, tmp)
        os.replace(tmp, current)
    return db


def mf_query(db: Path, tmp: Path, metrics: list[str], group_by: list[str]) -> pd.DataFrame:
    out = tmp / f"mf_{len(list(tmp.iterdir()))}.csv"
    proc = subprocess.run([str(BIN / "mf"), "query", "--metrics", ",".join(metrics), "--group-by", ",".join(group_by),
                           "--order", group_by[0], "--csv", str(out)],
                          cwd=PROJECT, env=_env(db), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return pd.read_csv(out, keep_default_na=False, na_values=[""])  # 'n/a' is an age band


def _long(df: pd.DataFrame, time_col: str, dim_col: str | None, metrics: list[str]) -> dict:
    """{(metric, period_start, segment_value): value} for the non-empty values of an mf result."""
    out = {}
    for _, r in df.iterrows():
        for m in metrics:
            if pd.notna(r[m]):
                out[(m, str(r[time_col])[:10], "all" if dim_col is None else str(r[dim_col]))] = float(r[m])
    return out


def _mart(db: Path, grain: str, segment_type: str, metrics: list[str]) -> dict:
    df = query(db, f"""select metric_name, cast(period_start as varchar) as p, segment_value, metric_value
                       from marts.fct_cx_metrics where period_grain = ? and segment_type = ?
                       and metric_name in ({", ".join("?" for _ in metrics)})""", [grain, segment_type, *metrics])
    return {(r.metric_name, r.p, r.segment_value): r.metric_value for r in df.itertuples()}


def _assert_equal(mf: dict, mart: dict, label: str):
    assert set(mf) == set(mart), (label, sorted(set(mf) ^ set(mart))[:10])
    worst = max(abs(mf[k] - mart[k]) for k in mart)
    assert worst <= 1e-9, (label, worst)


@pytest.mark.parametrize("segment_type", ["all", *ACCOUNT_SEGMENTS, "contact_reason"])
def test_mf_query_equals_fct_cx_metrics_for_every_metric_and_month(sample_db, tmp_path, segment_type):
    if segment_type == "all":
        metrics, group_by, dim = ALL, ["metric_time__month"], None
    elif segment_type == "contact_reason":
        # the contact rate's reason rows divide by all accounts: a mart-only view (docs/semantic_layer.md)
        metrics, group_by, dim = ["first_contact_resolution", "average_handle_time"], \
            ["metric_time__month", "metric_record__contact_reason"], "metric_record__contact_reason"
    else:
        metrics, group_by, dim = ALL, ["metric_time__month", f"segment__{segment_type}"], f"segment__{segment_type}"
    got = _long(mf_query(sample_db, tmp_path, metrics, group_by), "metric_time__month", dim, metrics)
    expected = _mart(sample_db, "month", segment_type, metrics)
    assert len(expected) > 20
    _assert_equal(got, expected, segment_type)


@pytest.mark.parametrize("grain", ["day", "week"])
def test_mf_query_equals_fct_cx_metrics_at_day_and_week(sample_db, tmp_path, grain):
    col = f"metric_time__{grain}"
    got = _long(mf_query(sample_db, tmp_path, ALL, [col]), col, None, ALL)
    _assert_equal(got, _mart(sample_db, grain, "all", ALL), grain)


def test_a_combination_the_mart_does_not_hold_is_a_ratio_of_sums(sample_db, tmp_path):
    """FCR and AHT by month x account class x contact reason, against sums of the entity-grain records."""
    metrics = ["first_contact_resolution", "average_handle_time"]
    dims = ["metric_time__month", "segment__account_class", "metric_record__contact_reason"]
    df = mf_query(sample_db, tmp_path, metrics, dims)
    records = query(sample_db, """
        select r.metric_name, cast(date_trunc('month', r.reference_date) as date) as month, r.reference_date as day,
               coalesce(a.account_class, 'unknown') as account_class, r.contact_reason, r.numerator, r.denominator
        from intermediate.int_metric_records r left join intermediate.int_accounts a using (account_id)
        where r.metric_name in ('first_contact_resolution', 'average_handle_time')""")
    records["month"] = pd.to_datetime(records.month)
    sums = records.groupby(["metric_name", "month", "account_class", "contact_reason"])[["numerator", "denominator"]].sum()
    per_day = records.groupby(["metric_name", "month", "account_class", "contact_reason", "day"])[
        ["numerator", "denominator"]].sum()
    mean_of_days = (per_day.numerator / per_day.denominator).groupby(level=[0, 1, 2, 3]).mean()
    checked = differs = 0
    for _, r in df.iterrows():
        for m in metrics:
            if pd.isna(r[m]):
                continue
            key = (m, pd.Timestamp(r["metric_time__month"]), r["segment__account_class"],
                   r["metric_record__contact_reason"])
            s = sums.loc[key]
            assert abs(r[m] - s.numerator / s.denominator) <= 1e-9, key
            checked += 1
            differs += abs(r[m] - mean_of_days.loc[key]) > 1e-9
    assert checked == len(sums[sums.denominator > 0]) and checked > 20
    # where the two differ, MetricFlow gave the ratio of sums, not the mean of daily ratios
    assert differs > 0


def test_mf_validate_configs_passes_against_the_warehouse(sample_db):
    """The full validation (semantics and every dimension, entity, measure and metric against the built
    warehouse): --skip-dw would miss bad dimension references."""
    proc = subprocess.run([str(BIN / "mf"), "validate-configs"], cwd=PROJECT, env=_env(sample_db),
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count("ERRORS: 0") >= 6 and "Successfully validated metrics against data warehouse" in out, out[-3000:]


def test_the_where_to_act_first_saved_query_equals_fct_cx_opportunities(sample_db, tmp_path):
    """The ranked opportunities through the semantic layer: every ranked (metric, month, segment) of the mart,
    no other, with its rank, lift and gap."""
    out = tmp_path / "where_to_act_first.csv"
    proc = subprocess.run([str(BIN / "mf"), "query", "--saved-query", "where_to_act_first", "--csv", str(out)],
                          cwd=PROJECT, env=_env(sample_db), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    got = {(r.cx_opportunity__metric_name, str(r.metric_time__month)[:10], r.cx_opportunity__segment_type,
            str(r.cx_opportunity__segment_value)): (int(r.cx_opportunity__rank_in_metric), r.opportunity_utility_lift,
                                                    r.opportunity_gap_units) for r in df.itertuples()}
    mart = query(sample_db, """select metric_name, cast(month_start as varchar) as m, segment_type, segment_value,
                                      rank_in_metric, utility_lift, gap_units
                               from marts.fct_cx_opportunities where rank_in_metric is not null""")
    expected = {(r.metric_name, r.m, r.segment_type, r.segment_value): (r.rank_in_metric, r.utility_lift, r.gap_units)
                for r in mart.itertuples()}
    assert len(got) == len(df) and set(got) == set(expected) and len(expected) > 100
    for key, (rank, lift, gap) in expected.items():
        assert got[key][0] == rank and abs(got[key][1] - lift) <= 1e-9 and abs(got[key][2] - gap) <= 1e-9, key
