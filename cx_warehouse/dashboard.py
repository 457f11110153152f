"""The static CX dashboard written by `make run`: one folder with index.html
that opens from disk with no server and no network.

Charts are Altair (Vega-Lite) specs rendered as SVG by vega-embed, whose
JavaScript bundle (from vl-convert-python, an installed package) is inlined
once in the page: no CDN, no request. Tables carry the mart they come from
(`data-source`) so the browser test can compare every number with the marts.

    python -m cx_warehouse.dashboard --duckdb warehouse/cx_warehouse.duckdb --out warehouse/dashboard
"""
from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd

from cx_warehouse.scorecard import METRIC_ORDER, target_status

SIX = METRIC_ORDER
LABELS = {
    "csat": "CSAT", "first_contact_resolution": "First-contact resolution",
    "self_service_adoption": "Self-service adoption", "bill_accuracy": "Bill accuracy",
    "average_handle_time": "Average handle time (s)", "ebill_adoption": "E-bill adoption",
    "inbound_contact_rate": "Inbound contacts per account",
}


def _q(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:.1f}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)


def _table(df: pd.DataFrame, source: str, caption: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return (f'<table class="cx-table" data-source="{html.escape(source)}"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _as_of_and_month(con) -> tuple[str, str | None]:
    as_of = con.sql("select max(as_of_date) from marts.dim_accounts").fetchone()[0]
    month = con.execute("""select max(period_start) from marts.fct_cx_metrics
                           where period_grain = 'month' and last_day(period_start) <= ?""", [as_of]).fetchone()[0]
    return str(as_of), (str(month) if month else None)


def metric_trend_charts(con) -> list[tuple[str, alt.Chart]]:
    months = _q(con, """
        select m.metric_name, m.period_start, m.metric_value, m.prior_year_value, t.target_value, t.at_risk_value
        from marts.fct_cx_metrics m left join reference.metric_targets t using (metric_name)
        where m.period_grain = 'month' and m.segment_type = 'all' order by m.metric_name, m.period_start""")
    charts = []
    for name in SIX:
        d = months[months.metric_name == name]
        if d.empty:
            continue
        base = alt.Chart(d).encode(x=alt.X("period_start:T", title="month"))
        band = base.mark_area(opacity=0.15, color="#2ca02c").encode(
            y=alt.Y("at_risk_value:Q", title=LABELS[name]), y2="target_value:Q")
        value = base.mark_line(point=True, color="#1f77b4").encode(
            y="metric_value:Q", tooltip=["period_start:T", "metric_value:Q", "prior_year_value:Q"])
        prior = base.mark_line(strokeDash=[4, 3], color="#7f7f7f").encode(y="prior_year_value:Q")
        charts.append((f"trend_{name}", (band + value + prior).properties(
            title=f"{LABELS[name]}: month, all accounts (band: target to at-risk; dashed: prior year)",
            width=520, height=180)))
    return charts


def segment_tables(con, month: str | None, min_denominator: int) -> str:
    if month is None:
        return "<p>No complete month yet.</p>"
    out = []
    for name in SIX:
        d = _q(con, """
            select m.segment_type, m.segment_value, m.metric_value, m.denominator
            from marts.fct_cx_metrics m left join reference.metric_targets t using (metric_name)
            where m.metric_name = ? and m.period_grain = 'month' and m.period_start = cast(? as date)
              and m.segment_type <> 'all' and m.denominator >= ?
            order by case when t.direction = 'lower_is_better' then -m.metric_value else m.metric_value end,
                     m.segment_type, m.segment_value
            limit 5""", [name, month, min_denominator])
        out.append(_table(d, "marts.fct_cx_metrics",
                          f"{LABELS[name]}, {month[:7]}: weakest segments (n >= {min_denominator})"))
    return "".join(out)


def build_dashboard(duckdb_path: Path, out_dir: Path, min_denominator: int = 20) -> Path:
    """Write out_dir/index.html from the published marts; returns its path."""
    import vl_convert as vlc

    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        as_of, month = _as_of_and_month(con)
        charts: list[tuple[str, alt.Chart]] = []
        sections: list[str] = []

        trends = metric_trend_charts(con)
        charts += trends
        targets = _q(con, """select m.metric_name, m.metric_value, m.prior_year_value, t.direction,
                                    t.target_value, t.at_risk_value
                             from marts.fct_cx_metrics m left join reference.metric_targets t using (metric_name)
                             where m.period_grain = 'month' and m.period_start = cast(? as date)
                               and m.segment_type = 'all' order by m.metric_name""", [month])
        targets["status"] = [target_status(r.metric_value, r.direction, r.target_value, r.at_risk_value)
                             if pd.notna(r.target_value) else "no target" for r in targets.itertuples()]
        sections.append(("Metrics", _table(targets[["metric_name", "metric_value", "prior_year_value", "target_value",
                                                    "status"]], "marts.fct_cx_metrics",
                                           f"Latest complete month {month}") +
                         "".join(f'<div class="chart" id="{cid}"></div>' for cid, _ in trends)))

        sections.append(("Segments (weakest first)", segment_tables(con, month, min_denominator)))

        rolling = _q(con, "select week_start, csat_13w, denominator_13w from marts.fct_csat_rolling_13w "
                          "where segment_type = 'all' order by week_start")
        charts.append(("csat_13w", alt.Chart(rolling).mark_line().encode(
            x=alt.X("week_start:T", title="week"), y=alt.Y("csat_13w:Q", title="CSAT, 13 weeks"),
            tooltip=["week_start:T", "csat_13w:Q", "denominator_13w:Q"]).properties(
            title="CSAT, 13-week rolling (all accounts)", width=520, height=180)))
        sections.append(("13-week CSAT", '<div class="chart" id="csat_13w"></div>'))

        runs = _q(con, "select billing_run_id, run_date, bills, accurate_bills, exceptions, bill_accuracy "
                       "from marts.fct_bill_accuracy_by_billing_run order by run_date, billing_run_id")
        charts.append(("bill_accuracy_runs", alt.Chart(runs).mark_bar().encode(
            x=alt.X("run_date:T", title="run date"), y=alt.Y("bill_accuracy:Q", title="bill accuracy"),
            tooltip=["billing_run_id", "bills", "accurate_bills", "exceptions"]).properties(
            title="Bill accuracy by billing run", width=520, height=180)))
        exceptions = _q(con, """select billing_run_id, run_date, exception_type, exceptions, exceptions_without_bill,
                                       resolved_exceptions, median_hours_to_resolve
                                from marts.fct_billing_exceptions_by_run
                                order by run_date desc, billing_run_id, exception_type limit 15""")
        sections.append(("Bill accuracy by billing run", '<div class="chart" id="bill_accuracy_runs"></div>'
                         + _table(runs.tail(10), "marts.fct_bill_accuracy_by_billing_run", "Latest runs")
                         + _table(exceptions, "marts.fct_billing_exceptions_by_run", "Exceptions of the latest runs")))

        funnel = _q(con, """select * from (
                              select 'candidates' as stage, 1 as step, sum(candidates) as n from marts.fct_survey_outcomes
                              union all select 'selected', 2, sum(selected) from marts.fct_survey_outcomes
                              union all select 'sent', 3, sum(surveys_sent) from marts.fct_survey_outcomes
                              union all select 'sent in window', 4, sum(sent_in_window) from marts.fct_survey_outcomes
                              union all select 'responses', 5, sum(responses) from marts.fct_survey_outcomes)
                            order by step""")
        charts.append(("survey_funnel", alt.Chart(funnel).mark_bar().encode(
            x=alt.X("n:Q", title="events"), y=alt.Y("stage:N", sort=alt.SortField("step"), title=None),
            tooltip=["stage", "n:Q"]).properties(title="Survey funnel, every trigger type", width=520, height=150)))
        sections.append(("Survey funnel", '<div class="chart" id="survey_funnel"></div>'
                         + _table(funnel[["stage", "n"]], "marts.fct_survey_outcomes", "Funnel totals")))

        touch = _q(con, """select trigger_type, sum(numerator) / sum(denominator) as csat, sum(denominator) as responses
                           from marts.fct_csat_by_touchpoint where period_grain = 'month' and segment_type = 'all'
                           group by trigger_type order by trigger_type""")
        drivers = _q(con, """select ticket_outcome, sum(numerator) / sum(denominator) as csat, sum(denominator) as responses
                             from marts.fct_csat_drivers group by ticket_outcome order by ticket_outcome""")
        charts.append(("csat_touchpoints", alt.Chart(touch).mark_bar().encode(
            x=alt.X("csat:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("trigger_type:N", title=None),
            tooltip=["trigger_type", "csat:Q", "responses:Q"]).properties(
            title="CSAT by touchpoint (whole window)", width=520, height=120)))
        charts.append(("csat_drivers", alt.Chart(drivers).mark_bar().encode(
            x=alt.X("csat:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("ticket_outcome:N", title=None),
            tooltip=["ticket_outcome", "csat:Q", "responses:Q"]).properties(
            title="CSAT of contact surveys by ticket outcome", width=520, height=120)))
        sections.append(("Touchpoints and drivers", '<div class="chart" id="csat_touchpoints"></div>'
                         '<div class="chart" id="csat_drivers"></div>'
                         + _table(touch, "marts.fct_csat_by_touchpoint", "CSAT by touchpoint")
                         + _table(drivers, "marts.fct_csat_drivers", "CSAT by ticket outcome")))

        alerts = _q(con, """select alert_rank, metric_name, segment_type, segment_value, metric_value, baseline_value,
                                   gap, z_score, volume from marts.fct_cx_alerts order by alert_rank limit 25""")
        sections.append(("Alerts", _table(alerts, "marts.fct_cx_alerts",
                                          f"Segments off their own baseline in {month[:7] if month else '-'}")
                         if not alerts.empty else "<p>No segment is off its baseline.</p>"))

        rec = _q(con, "select source_file, raw_rows, kept_rows, duplicate_rows, rejected_rows "
                      "from marts.dq_row_reconciliation order by source_file")
        charts.append(("rejected_rows", alt.Chart(rec).mark_bar(color="#d62728").encode(
            x=alt.X("rejected_rows:Q", title="rejected rows"), y=alt.Y("source_file:N", title=None),
            tooltip=["source_file", "raw_rows:Q", "rejected_rows:Q"]).properties(
            title="Rejected rows per export", width=520, height=300)))
        runs_health = _q(con, """select run_started_at, tests_run, tests_passed, tests_warned, tests_failed,
                                        tests_errored, is_healthy
                                 from marts.dq_test_run_summary order by run_started_at desc limit 10""")
        sections.append(("Data health", '<div class="chart" id="rejected_rows"></div>'
                         + _table(rec, "marts.dq_row_reconciliation", "Rows per export")
                         + _table(runs_health, "marts.dq_test_run_summary", "Latest runs' tests")))
    finally:
        con.close()

    specs = {cid: chart.to_dict() for cid, chart in charts}
    bundle = vlc.javascript_bundle(vl_version="v" + alt.SCHEMA_VERSION.lstrip("v").split(".")[0] + "_"
                                   + alt.SCHEMA_VERSION.lstrip("v").split(".")[1])
    nav = "".join(f'<a href="#s{i}">{html.escape(t)}</a>' for i, (t, _) in enumerate(sections))
    body = "".join(f'<section id="s{i}"><h2>{html.escape(t)}</h2>{content}</section>'
                   for i, (t, content) in enumerate(sections))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CX dashboard</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 2rem 2rem; color: #222; }}
nav a {{ margin-right: 1rem; }} section {{ margin-top: 2rem; }}
table.cx-table {{ border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }}
table.cx-table td, table.cx-table th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
caption {{ text-align: left; font-weight: 600; }}
</style>
<script>{bundle}</script></head>
<body><h1>CX dashboard</h1><p>As-of date {html.escape(as_of)}; latest complete month {html.escape(month or '-')}.
Source: {html.escape(str(Path(duckdb_path).resolve()))}</p><nav>{nav}</nav>{body}
<script>
const specs = {json.dumps(specs)};
window.cxRendered = Promise.all(Object.entries(specs).map(([id, spec]) =>
  vegaEmbed('#' + id, spec, {{renderer: 'svg', actions: false}})));
window.cxRendered.then(() => document.body.setAttribute('data-rendered', Object.keys(specs).length))
  .catch(e => {{ console.error(e); document.body.setAttribute('data-rendered', 'error'); }});
</script></body></html>
"""
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cx_warehouse.dashboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duckdb", required=True, help="a published warehouse file")
    p.add_argument("--out", required=True, help="folder to write index.html into")
    args = p.parse_args(argv)
    db = Path(args.duckdb)
    if not db.is_file():
        print(f"no warehouse at {db}", file=sys.stderr)
        return 2
    print(build_dashboard(db, Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
