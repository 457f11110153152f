"""The static CX dashboard written by `make run`: one folder with index.html
that opens from disk with no server and no network.

From the top: where to act first (the ranked opportunities of the latest
complete month), the scorecard (values as people read them, status badges
with the target beside them, the top opportunity), then the trends, 13-week
CSAT and channel mix of one segment, chosen with two lists (segment type,
then value; `all` by default, or `#segment=<type>/<value>` in the address),
and the views that are not by segment (billing runs, survey funnel,
touchpoints, alerts, data health).

Charts are Altair (Vega-Lite) specs rendered as SVG by vega-embed, whose
JavaScript bundle (from vl-convert-python, an installed package) is inlined
once in the page: no CDN, no request. The charts that follow the segment
read a named dataset (`rows`) that the page fills with the chosen segment's
rows of the marts and writes back, as the chart holds them, into the chart's
`data-shown` attribute. Tables carry the mart they come from (`data-source`)
so the browser test can compare every number with the marts.

    python -m cx_warehouse.dashboard --duckdb warehouse/cx_warehouse.duckdb --out warehouse/dashboard
"""
from __future__ import annotations

import argparse
import html
import json
import os
import sys
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd

from cx_warehouse.scorecard import (METRIC_ORDER, format_change, format_gap, format_lift, format_opportunity,
                                    format_value, scorecard_rows)

LABELS = {
    "csat": "CSAT", "first_contact_resolution": "First-contact resolution",
    "self_service_adoption": "Self-service adoption", "bill_accuracy": "Bill accuracy",
    "average_handle_time": "Average handle time (m:ss)", "ebill_adoption": "E-bill adoption",
    "inbound_contact_rate": "Inbound contacts per account",
}
# the axis labels of handle time as m:ss (format_value's form; shares in %, rates with 3 decimals)
MSS_AXIS = "floor(datum.value / 60) + ':' + (datum.value % 60 < 10 ? '0' : '') + floor(datum.value % 60)"
OPPORTUNITIES_PER_METRIC = 3


def _q(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _plain(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:.1f}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)


def _table(header: list[str], rows: list[list[str]], source: str, caption: str, css: str = "") -> str:
    """rows hold HTML-safe cells (escape text with html.escape first)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<table class="cx-table {css}" data-source="{html.escape(source)}"><caption>{html.escape(caption)}'
            f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _frame_table(df: pd.DataFrame, source: str, caption: str) -> str:
    return _table(list(df.columns), [[html.escape(_plain(v)) for v in r] for r in df.itertuples(index=False)],
                  source, caption)


def _badge(status: str) -> str:
    return f'<span class="badge {status.replace(" ", "-")}">{html.escape(status)}</span>'


def _source_label(source: str | None) -> str:
    """metric_targets.source up to its first colon ("Project default, not a benchmark"), the whole text on hover."""
    if not source:
        return ""
    return f'<span title="{html.escape(source)}">{html.escape(source.split(":")[0])}</span>'


def _latest_complete_month(con) -> tuple[str, str | None]:
    as_of = con.sql("select max(as_of_date) from marts.dim_accounts").fetchone()[0]
    month = con.execute("""select max(period_start) from marts.fct_cx_metrics
                           where period_grain = 'month' and last_day(period_start) <= ?""", [as_of]).fetchone()[0]
    return str(as_of), (str(month) if month else None)


# ------------------------------------------------------------------ sections

def opportunities_section(con, month: str | None) -> str:
    if month is None:
        return "<p>No complete month yet.</p>"
    opp = _q(con, f"""
        select metric_name, rank_in_metric, segment_type, segment_value, metric_value, target_value, gap_units,
               utility_lift, direction, share_of_type_gap, target_source, is_provisional
        from marts.fct_cx_opportunities
        where month_start = cast(? as date) and rank_in_metric <= {OPPORTUNITIES_PER_METRIC}
        order by rank_in_metric""", [month])
    rows = []
    for name in METRIC_ORDER:
        sub = opp[opp.metric_name == name]
        if sub.empty:
            rows.append([html.escape(LABELS[name]), "", "every segment on target", "", "", "", "", "", "", ""])
        for r in sub.itertuples():
            rows.append([
                html.escape(LABELS[name]), str(int(r.rank_in_metric)),
                html.escape(f"{r.segment_type} = {r.segment_value}"),
                html.escape(format_value(name, r.metric_value)) + (" (provisional)" if r.is_provisional else ""),
                html.escape(format_value(name, r.target_value)), html.escape(format_gap(name, r.gap_units)),
                f"<strong>{html.escape(format_lift(name, r.utility_lift, r.direction))}</strong>",
                html.escape(f"{r.share_of_type_gap * 100:.0f}%") if pd.notna(r.share_of_type_gap) else "",
                _source_label(r.target_source), "yes" if r.is_provisional else "",
            ])
    header = ["metric", "rank", "segment", "value", "target", "gap to target", "utility-wide lift",
              "share of its type's gap", "target source", "provisional"]
    note = ("<p class=\"note\">The segments whose reaching target would move the utility-wide value most, "
            f"{OPPORTUNITIES_PER_METRIC} per metric (<code>marts.fct_cx_opportunities</code>). "
            "Segments of different types overlap (an account has a class, a rate code, a service area and an "
            "age band at once): their lifts do not add up. <em>Target source</em> says whether the target is the "
            "utility's own or the project's default (<code>reference.metric_targets.source</code>, whole text on "
            "hover). First-contact resolution is provisional while its recontact window is open.</p>")
    return note + _table(header, rows, "marts.fct_cx_opportunities", f"Where to act first, {month[:7]}")


def scorecard_section(con, month: str | None) -> str:
    if month is None:
        return "<p>No complete month yet.</p>"
    _, _, rows = scorecard_rows(con)
    targets = {r.metric_name: r.source for r in _q(con, "select metric_name, source from reference.metric_targets")
               .itertuples()}
    cells = []
    for r in rows:
        m = r["metric"]
        cells.append([
            html.escape(m), html.escape(format_value(m, r["value"])), html.escape(format_value(m, r["prior_year"])),
            html.escape(format_change(m, r["change"])), _badge(r["status"]),
            html.escape(format_value(m, r["target"])) + " " + _source_label(targets.get(m)),
            html.escape(format_opportunity(m, r["top_opportunity"])),
        ])
    return _table(["metric", "value", "prior year", "change", "status", "target (source)", "top opportunity"],
                  cells, "marts.fct_cx_metrics", f"Latest complete month {month}", css="scorecard")


def _y(metric: str, field: str, title: str) -> alt.Y:
    if metric == "average_handle_time":
        axis = alt.Axis(title=title, labelExpr=MSS_AXIS)
    else:
        axis = alt.Axis(title=title, format=".3f" if metric == "inbound_contact_rate" else ".0%")
    return alt.Y(field, title=title, axis=axis)


def segment_charts() -> list[tuple[str, str, dict, alt.Chart]]:
    """(chart id, dataset, match, chart) of the charts that follow the chosen segment: each reads the named
    dataset `rows`, which the page fills with the dataset's rows of the segment that also match `match`."""
    rows = alt.Data(name="rows")
    out = []
    for name in METRIC_ORDER:
        base = alt.Chart(rows).encode(x=alt.X("period_start:T", title="month"))
        band = base.mark_area(opacity=0.15, color="#2ca02c").encode(
            y=_y(name, "at_risk_value:Q", LABELS[name]), y2="target_value:Q")
        value = base.mark_line(point=True, color="#1f77b4").encode(
            y="metric_value:Q", tooltip=["period_start:T", "metric_value:Q", "prior_year_value:Q", "denominator:Q"])
        prior = base.mark_line(strokeDash=[4, 3], color="#7f7f7f").encode(y="prior_year_value:Q")
        out.append((f"trend_{name}", "metrics", {"metric_name": name}, (band + value + prior).properties(
            title=f"{LABELS[name]} by month (band: target to at-risk; dashed: prior year)", width=470, height=170)))
    out.append(("csat_13w", "csat_13w", {}, alt.Chart(rows).mark_line().encode(
        x=alt.X("week_start:T", title="week"), y=alt.Y("csat_13w:Q", title="CSAT, 13 weeks", axis=alt.Axis(format=".0%")),
        tooltip=["week_start:T", "csat_13w:Q", "denominator_13w:Q"]).properties(
        title="CSAT, 13-week rolling", width=470, height=170)))
    out.append(("channel_mix", "channel_mix", {}, alt.Chart(rows).mark_bar().encode(
        x=alt.X("yearmonth(period_start):O", title="month"),
        y=alt.Y("channel_share:Q", title="share of interactions", stack="normalize", axis=alt.Axis(format=".0%")),
        color=alt.Color("channel:N", sort=["web", "mobile_app", "ivr", "phone", "chat", "email", "walk_in"]),
        tooltip=["period_start:T", "channel:N", "channel_group:N", "interactions:Q", "channel_share:Q",
                 "prior_year_share:Q"]).properties(
        title="Channel mix by month (share of interactions)", width=470, height=170)))
    grouped = alt.Chart(rows).transform_aggregate(
        share="sum(channel_share)", prior="sum(prior_year_share)", priors="valid(prior_year_share)",
        groupby=["period_start", "channel_group"]).transform_calculate(
        prior_year="datum.priors > 0 ? datum.prior : null")
    base = grouped.encode(x=alt.X("period_start:T", title="month"),
                          color=alt.Color("channel_group:N", title="channels",
                                          scale=alt.Scale(domain=["self_service", "assisted"])))
    out.append(("channel_groups", "channel_mix", {}, (
        base.mark_line(point=True).encode(y=alt.Y("share:Q", title="share", axis=alt.Axis(format=".0%")),
                                          tooltip=["period_start:T", "channel_group:N", "share:Q", "prior_year:Q"])
        + base.mark_line(strokeDash=[4, 3]).encode(y="prior_year:Q")).properties(
        title="Self-service vs. assisted share (dashed: prior year)", width=470, height=170)))
    return out


def segment_datasets(con) -> dict[str, pd.DataFrame]:
    """Every segment's rows of what the segment charts show (the month grain of the marts)."""
    return {
        "metrics": _q(con, """
            select m.metric_name, m.segment_type, m.segment_value, cast(m.period_start as varchar) as period_start,
                   m.metric_value, m.prior_year_value, m.denominator, t.target_value, t.at_risk_value
            from marts.fct_cx_metrics m left join reference.metric_targets t using (metric_name)
            where m.period_grain = 'month' order by m.metric_name, m.segment_type, m.segment_value, m.period_start"""),
        "csat_13w": _q(con, """
            select segment_type, segment_value, cast(week_start as varchar) as week_start, csat_13w, denominator_13w
            from marts.fct_csat_rolling_13w order by segment_type, segment_value, week_start"""),
        "channel_mix": _q(con, """
            select segment_type, segment_value, cast(period_start as varchar) as period_start, channel, channel_group,
                   interactions, channel_share, prior_year_share
            from marts.fct_channel_mix where period_grain = 'month'
            order by segment_type, segment_value, period_start, channel"""),
    }


def segment_choices(con) -> list[tuple[str, list[str]]]:
    df = _q(con, """select distinct segment_type, segment_value from marts.fct_cx_metrics where period_grain = 'month'
                    order by segment_type <> 'all', segment_type, segment_value""")
    out: list[tuple[str, list[str]]] = []
    for t in dict.fromkeys(df.segment_type):
        out.append((t, list(df[df.segment_type == t].segment_value)))
    return out


def _columnar(df: pd.DataFrame) -> dict:
    return {"columns": list(df.columns),
            "rows": [[None if (isinstance(v, float) and pd.isna(v)) else v for v in r]
                     for r in df.astype(object).itertuples(index=False)]}


# ------------------------------------------------------------------ the page

def build_dashboard(duckdb_path: Path, out_dir: Path, min_denominator: int = 20) -> Path:
    """Write out_dir/index.html from the published marts; returns its path."""
    import vl_convert as vlc

    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        as_of, month = _latest_complete_month(con)
        charts: list[tuple[str, alt.Chart]] = []
        sections: list[tuple[str, str]] = []

        sections.append(("Where to act first", opportunities_section(con, month)))
        sections.append(("Scorecard", scorecard_section(con, month)))

        following = segment_charts()
        datasets = segment_datasets(con)
        choices = segment_choices(con)
        charts += [(cid, chart) for cid, _, _, chart in following]
        picker = ('<div class="picker"><label>Segment type <select id="segment-type"></select></label> '
                  '<label>Segment <select id="segment-value"></select></label> '
                  '<span id="segment-shown">all accounts</span></div>')
        div = lambda cid: f'<div class="chart" id="{cid}"></div>'  # noqa: E731
        sections.append(("By segment: trends, 13-week CSAT and channel mix", picker + '<div class="grid">' + "".join(
            f'<div>{div(cid)}<p id="{cid}-empty" class="note" hidden>{html.escape(title)}: no data for this segment.</p>'
            f'</div>' for cid, _, _, chart in following for title in [chart.to_dict().get("title", cid)]) + "</div>"))

        sections.append(("Weakest segments", weakest_tables(con, month, min_denominator)))

        runs = _q(con, "select billing_run_id, run_date, bills, accurate_bills, exceptions, bill_accuracy "
                       "from marts.fct_bill_accuracy_by_billing_run order by run_date, billing_run_id")
        charts.append(("bill_accuracy_runs", alt.Chart(runs).mark_bar().encode(
            x=alt.X("run_date:T", title="run date"),
            y=alt.Y("bill_accuracy:Q", title="bill accuracy", axis=alt.Axis(format=".0%")),
            tooltip=["billing_run_id", "bills", "accurate_bills", "exceptions"]).properties(
            title="Bill accuracy by billing run", width=520, height=180)))
        exceptions = _q(con, """select billing_run_id, run_date, exception_type, exceptions, exceptions_without_bill,
                                       resolved_exceptions, median_hours_to_resolve
                                from marts.fct_billing_exceptions_by_run
                                order by run_date desc, billing_run_id, exception_type limit 15""")
        latest = runs.tail(10)
        run_rows = [[html.escape(r.billing_run_id), html.escape(_plain(r.run_date)), str(r.bills),
                     str(r.accurate_bills), str(r.exceptions), html.escape(format_value("bill_accuracy", r.bill_accuracy))]
                    for r in latest.itertuples()]
        sections.append(("Bill accuracy by billing run", div("bill_accuracy_runs")
                         + _table(list(runs.columns), run_rows, "marts.fct_bill_accuracy_by_billing_run", "Latest runs")
                         + _frame_table(exceptions, "marts.fct_billing_exceptions_by_run",
                                        "Exceptions of the latest runs")))

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
        sections.append(("Survey funnel", div("survey_funnel")
                         + _frame_table(funnel[["stage", "n"]], "marts.fct_survey_outcomes", "Funnel totals")))

        touch = _q(con, """select trigger_type, sum(numerator) / sum(denominator) as csat, sum(denominator) as responses
                           from marts.fct_csat_by_touchpoint where period_grain = 'month' and segment_type = 'all'
                           group by trigger_type order by trigger_type""")
        drivers = _q(con, """select ticket_outcome, sum(numerator) / sum(denominator) as csat, sum(denominator) as responses
                             from marts.fct_csat_drivers group by ticket_outcome order by ticket_outcome""")
        for cid, df, field, title in (("csat_touchpoints", touch, "trigger_type", "CSAT by touchpoint (whole window)"),
                                      ("csat_drivers", drivers, "ticket_outcome",
                                       "CSAT of contact surveys by ticket outcome")):
            charts.append((cid, alt.Chart(df).mark_bar().encode(
                x=alt.X("csat:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%")),
                y=alt.Y(f"{field}:N", title=None), tooltip=[field, "csat:Q", "responses:Q"]).properties(
                title=title, width=520, height=120)))

        def csat_rows(df, key):
            return [[html.escape(str(getattr(r, key))), html.escape(format_value("csat", r.csat)), str(int(r.responses))]
                    for r in df.itertuples()]
        sections.append(("Touchpoints and drivers", div("csat_touchpoints") + div("csat_drivers")
                         + _table(list(touch.columns), csat_rows(touch, "trigger_type"), "marts.fct_csat_by_touchpoint",
                                  "CSAT by touchpoint")
                         + _table(list(drivers.columns), csat_rows(drivers, "ticket_outcome"), "marts.fct_csat_drivers",
                                  "CSAT by ticket outcome")))

        alerts = _q(con, """select alert_rank, metric_name, segment_type, segment_value, metric_value, baseline_value,
                                   gap, z_score, volume from marts.fct_cx_alerts order by alert_rank limit 25""")
        alert_rows = [[str(r.alert_rank), html.escape(r.metric_name), html.escape(r.segment_type),
                       html.escape(r.segment_value), html.escape(format_value(r.metric_name, r.metric_value)),
                       html.escape(format_value(r.metric_name, r.baseline_value)),
                       html.escape(format_change(r.metric_name, r.gap)), f"{r.z_score:.1f}", str(r.volume)]
                      for r in alerts.itertuples()]
        sections.append(("Alerts", _table(list(alerts.columns), alert_rows, "marts.fct_cx_alerts",
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
        sections.append(("Data health", div("rejected_rows")
                         + _frame_table(rec, "marts.dq_row_reconciliation", "Rows per export")
                         + _frame_table(runs_health, "marts.dq_test_run_summary", "Latest runs' tests")))
    finally:
        con.close()

    page = _page(as_of, month, duckdb_path, sections, charts,
                 {cid: [dataset, match] for cid, dataset, match, _ in following},
                 {k: _columnar(v) for k, v in datasets.items()}, choices, vlc)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def weakest_tables(con, month: str | None, min_denominator: int) -> str:
    if month is None:
        return "<p>No complete month yet.</p>"
    out = []
    for name in METRIC_ORDER:
        d = _q(con, """
            select m.segment_type, m.segment_value, m.metric_value, m.denominator
            from marts.fct_cx_metrics m left join reference.metric_targets t using (metric_name)
            where m.metric_name = ? and m.period_grain = 'month' and m.period_start = cast(? as date)
              and m.segment_type <> 'all' and m.denominator >= ?
            order by case when t.direction = 'lower_is_better' then -m.metric_value else m.metric_value end,
                     m.segment_type, m.segment_value
            limit 5""", [name, month, min_denominator])
        rows = [[html.escape(r.segment_type), html.escape(r.segment_value), html.escape(format_value(name, r.metric_value)),
                 str(r.denominator)] for r in d.itertuples()]
        out.append(_table(list(d.columns), rows, "marts.fct_cx_metrics",
                          f"{LABELS[name]}, {month[:7]}: weakest segments (n >= {min_denominator})"))
    return "".join(out)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 2rem 2rem; color: #222; }
nav a { margin-right: 1rem; } section { margin-top: 1.5rem; }
table.cx-table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.85rem; }
table.cx-table td, table.cx-table th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
caption { text-align: left; font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 9px; color: #fff; font-size: 0.8rem; }
.badge.on-target { background: #2e7d32; } .badge.watch { background: #ef8f00; }
.badge.at-risk { background: #c62828; } .badge.no-target, .badge.no-data { background: #757575; }
.note { max-width: 70rem; font-size: 0.85rem; color: #444; }
.picker { position: sticky; top: 0; background: #fff; padding: 0.4rem 0; z-index: 2; border-bottom: 1px solid #ddd; }
.picker label { margin-right: 1rem; } #segment-shown { font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(2, max-content); gap: 0.5rem 2rem; }
"""

SCRIPT = """
const byId = id => document.getElementById(id);
function rowsOf(key, match) {
  const d = datasets[key], at = c => d.columns.indexOf(c);
  const keys = Object.entries(match).map(([c, v]) => [at(c), v]);
  return d.rows.filter(r => keys.every(([i, v]) => r[i] === v))
               .map(r => Object.fromEntries(d.columns.map((c, i) => [c, r[i]])));
}
const plain = row => Object.fromEntries(Object.entries(row).map(
  ([k, v]) => [k, v instanceof Date ? v.toISOString().slice(0, 10) : v]));
const views = {};
async function showSegment(type, value) {
  for (const [id, [key, match]] of Object.entries(following)) {
    const view = views[id], div = byId(id);
    const rows = rowsOf(key, {...match, segment_type: type, segment_value: value});
    // a segment with no rows for a chart hides it (an empty chart has no scale to draw)
    div.hidden = rows.length === 0;
    byId(id + '-empty').hidden = rows.length > 0;
    if (rows.length > 0) {
      view.data('rows', rows);
      await view.runAsync();
    }
    div.setAttribute('data-shown', JSON.stringify(rows.length ? view.data('rows').map(plain) : []));
  }
  byId('segment-shown').textContent = type === 'all' ? 'all accounts' : type + ' = ' + value;
  document.body.setAttribute('data-segment', type + '/' + value);
}
function fillValues(type, value) {
  const values = choices.find(([t]) => t === type)[1], select = byId('segment-value');
  select.replaceChildren(...values.map(v => new Option(v, v)));
  select.value = values.includes(value) ? value : values[0];
  return select.value;
}
function fromAddress() {
  const m = /^#segment=([^/]*)\\/(.*)$/.exec(location.hash);
  if (!m) return ['all', 'all'];
  const type = decodeURIComponent(m[1]), value = decodeURIComponent(m[2]);
  const found = choices.find(([t]) => t === type);
  return found && found[1].includes(value) ? [type, value] : ['all', 'all'];
}
async function choose(type, value) {
  byId('segment-type').value = type;
  value = fillValues(type, value);
  history.replaceState(null, '', '#segment=' + encodeURIComponent(type) + '/' + encodeURIComponent(value));
  await showSegment(type, value);
}
byId('segment-type').replaceChildren(...choices.map(([t]) => new Option(t, t)));
byId('segment-type').addEventListener('change', e => choose(e.target.value, null));
byId('segment-value').addEventListener('change', e => choose(byId('segment-type').value, e.target.value));
// the segment charts are first drawn with the rows of all accounts, then show the chosen segment
for (const [id, [key, match]] of Object.entries(following))
  specs[id].datasets = {rows: rowsOf(key, {...match, segment_type: 'all', segment_value: 'all'})};
window.cxRendered = Promise.all(Object.entries(specs).map(([id, spec]) =>
  vegaEmbed('#' + id, spec, {renderer: 'svg', actions: false}).then(r => { views[id] = r.view; })))
  .then(() => choose(...fromAddress()));
window.cxRendered.then(() => document.body.setAttribute('data-rendered', Object.keys(specs).length))
  .catch(e => { console.error(e); document.body.setAttribute('data-rendered', 'error'); });
"""


def vega_bundle(vlc, vl_version: str) -> str:
    """vl-convert's JavaScript bundle of Vega and Vega-Lite, which the page
    embeds: the same text for one vl-convert and one Vega-Lite version, and
    about 1.4 s to make, so it is kept in dbt's target folder between runs
    (a daily `make run` writes the page every day)."""
    from importlib.metadata import version

    from .pipeline import dbt_target_dir

    path = dbt_target_dir() / f"vega-bundle-{version('vl-convert-python')}-{vl_version}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vlc.javascript_bundle(vl_version=vl_version)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(bundle, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only project folder: made again next time
        pass
    return bundle


def _page(as_of, month, duckdb_path, sections, charts, following, datasets, choices, vlc) -> str:
    specs = {cid: chart.to_dict() for cid, chart in charts}
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    bundle = vega_bundle(vlc, f"v{major}_{minor}")
    nav = "".join(f'<a href="#s{i}">{html.escape(t)}</a>' for i, (t, _) in enumerate(sections))
    body = "".join(f'<section id="s{i}"><h2>{html.escape(t)}</h2>{content}</section>'
                   for i, (t, content) in enumerate(sections))
    def js(value) -> str:  # a JSON literal that cannot end the script element
        return json.dumps(value).replace("</", "<\\/")
    data = (f"const specs = {js(specs)};\nconst datasets = {js(datasets)};\n"
            f"const following = {js(following)};\nconst choices = {js(choices)};")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CX dashboard</title>
<style>{STYLE}</style>
<script>{bundle}</script></head>
<body><h1>CX dashboard</h1><p>As-of date {html.escape(as_of)}; latest complete month {html.escape(month or '-')}.
Source: {html.escape(str(Path(duckdb_path).resolve()))}</p><nav>{nav}</nav>{body}
<script>
{data}
{SCRIPT}
</script></body></html>
"""


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
