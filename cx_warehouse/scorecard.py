"""The console scorecard printed after `make run`.

For the latest complete month (the last month whose last day is on or before
the as-of date): each metric overall with its prior-year value, change and
target status, the weakest segment of each metric (smallest value, or
largest for average handle time, among segments with at least
`min_denominator` records), and its top opportunity (rank 1 of
fct_cx_opportunities: the segment whose reaching target would lift the
utility-wide value most).

The formatters here are the dashboard's too: shares as percentages with one
decimal, handle time as m:ss, contacts per account with three decimals.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

METRIC_ORDER = [
    "csat", "first_contact_resolution", "self_service_adoption",
    "bill_accuracy", "average_handle_time", "ebill_adoption",
    "inbound_contact_rate",
]


def _mss(seconds: float) -> str:
    minutes, secs = divmod(int(round(abs(seconds))), 60)
    return f"{minutes}:{secs:02d}"


def format_value(metric: str, value: float | None, signed: bool = False) -> str:
    """A metric value as people read it: 97.7%, 10:06 (m:ss), 0.104; signed, a difference of two values:
    +1.2 pt, -0:48, +0.004."""
    if value is None or value != value:
        return "-"
    sign = ("+" if value >= 0 else "-") if signed else ("-" if value < 0 else "")
    if metric == "average_handle_time":
        return sign + _mss(value)
    if metric == "inbound_contact_rate":
        return f"{sign}{abs(value):.3f}"
    return f"{sign}{abs(value) * 100:.1f}" + (" pt" if signed else "%")


def format_change(metric: str, change: float | None) -> str:
    return format_value(metric, change, signed=True)


def format_lift(metric: str, lift: float | None, direction: str) -> str:
    """utility_lift as the change of the utility-wide value: up where higher is better, down where lower is
    (direction as in metric_targets)."""
    if lift is None or lift != lift:
        return "-"
    return format_change(metric, -lift if direction == "lower_is_better" else lift)


GAP_UNITS = {
    "csat": "responses", "first_contact_resolution": "tickets", "self_service_adoption": "transactions",
    "bill_accuracy": "bills", "ebill_adoption": "accounts", "average_handle_time": "agent-hours",
    "inbound_contact_rate": "contacts",
}


def format_gap(metric: str, gap: float | None) -> str:
    """gap_units in its unit (agent seconds shown as hours)."""
    if gap is None or gap != gap:
        return "-"
    value = gap / 3600 if metric == "average_handle_time" else gap
    return f"{value:,.1f} {GAP_UNITS.get(metric, 'records')}"


def target_status(value: float, direction: str, target: float, at_risk: float) -> str:
    if direction == "lower_is_better":
        if value <= target:
            return "on target"
        return "at risk" if value > at_risk else "watch"
    if value >= target:
        return "on target"
    return "at risk" if value < at_risk else "watch"


def scorecard_rows(con: duckdb.DuckDBPyConnection, min_denominator: int = 20) -> tuple[str, str, list[dict]]:
    as_of = con.sql("select max(as_of_date) from marts.dim_accounts").fetchone()[0]
    if as_of is None:
        as_of = con.sql("select max(period_start) from marts.fct_cx_metrics where period_grain = 'day'").fetchone()[0]
    month = con.execute(
        """
        select max(period_start) from marts.fct_cx_metrics
        where period_grain = 'month' and last_day(period_start) <= ?
        """,
        [as_of],
    ).fetchone()[0]
    if month is None:
        return str(as_of), "none", []
    overall = con.execute(
        """
        select m.metric_name, m.metric_value, m.prior_year_value, m.yoy_change, m.denominator,
               t.direction, t.target_value, t.at_risk_value
        from marts.fct_cx_metrics m
        left join reference.metric_targets t using (metric_name)
        where m.period_grain = 'month' and m.period_start = ? and m.segment_type = 'all'
        """,
        [month],
    ).fetchall()
    weakest = con.execute(
        """
        select metric_name, segment_type, segment_value, metric_value, denominator
        from (
            select m.*, row_number() over (
                partition by m.metric_name
                order by case when t.direction = 'lower_is_better' then -m.metric_value else m.metric_value end,
                         m.segment_type, m.segment_value
            ) as rank_weakest
            from marts.fct_cx_metrics m
            left join reference.metric_targets t using (metric_name)
            where m.period_grain = 'month' and m.period_start = ?
              and m.segment_type <> 'all' and m.denominator >= ?
        )
        where rank_weakest = 1
        """,
        [month, min_denominator],
    ).fetchall()
    top = con.execute(
        """
        select metric_name, segment_type, segment_value, utility_lift, gap_units, direction
        from marts.fct_cx_opportunities
        where month_start = ? and rank_in_metric = 1
        """,
        [month],
    ).fetchall()
    weak = {r[0]: r for r in weakest}
    best = {r[0]: r for r in top}
    rows = []
    for name, value, prior, change, denom, direction, target, at_risk in overall:
        w = weak.get(name)
        o = best.get(name)
        rows.append({
            "metric": name,
            "value": value,
            "prior_year": prior,
            "change": change,
            "records": denom,
            "target": target,
            "status": target_status(value, direction, target, at_risk) if target is not None else "no target",
            "weakest": None if w is None else {"segment_type": w[1], "segment_value": w[2], "value": w[3], "records": w[4]},
            "top_opportunity": None if o is None else {"segment_type": o[1], "segment_value": o[2], "utility_lift": o[3],
                                                       "gap_units": o[4], "direction": o[5]},
        })
    for name in METRIC_ORDER:
        if name not in {r["metric"] for r in rows}:
            rows.append({"metric": name, "value": None, "prior_year": None, "change": None, "records": 0,
                         "target": None, "status": "no data", "weakest": None, "top_opportunity": None})
    rows.sort(key=lambda r: METRIC_ORDER.index(r["metric"]) if r["metric"] in METRIC_ORDER else 99)
    return str(as_of), str(month)[:7], rows


def render_scorecard(duckdb_path: Path, min_denominator: int = 20) -> str:
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        as_of, month, rows = scorecard_rows(con, min_denominator)
    finally:
        con.close()
    out = format_scorecard(as_of, month, rows, min_denominator)
    out += [
        "",
        f"Warehouse: {Path(duckdb_path).resolve()}",
        "Query it:  .venv/bin/python -c \"import duckdb; print(duckdb.connect('" + str(Path(duckdb_path).resolve())
        + "', read_only=True).sql('select * from marts.fct_cx_metrics limit 10'))\"",
        "Published marts: " + ", ".join(f"marts.{m}" for m in PUBLISHED_FOR_USERS),
    ]
    return "\n".join(out)


# The marts the scorecard's footer points users at (every mart is in docs/contract/cx-metrics.md).
PUBLISHED_FOR_USERS = (
    "fct_cx_metrics", "fct_csat_rolling_13w", "fct_bill_accuracy_by_billing_run",
    "fct_billing_exceptions_by_run", "fct_channel_mix", "fct_ticket_resolution",
    "dim_accounts", "dq_rejected_rows", "dq_row_reconciliation",
)

# What scorecard_rows reads, for engines whose marts are copied into DuckDB to print it.
SCORECARD_INPUTS = (("marts", "dim_accounts"), ("marts", "fct_cx_metrics"), ("marts", "fct_cx_opportunities"),
                    ("reference", "metric_targets"))


def format_opportunity(metric: str, o: dict | None) -> str:
    if o is None:
        return "-"
    lift = format_lift(metric, o["utility_lift"], o["direction"])
    return f"{o['segment_type']}={o['segment_value']}: {lift} ({format_gap(metric, o['gap_units'])})"


def format_scorecard(as_of: str, month: str, rows: list[dict], min_denominator: int = 20) -> list[str]:
    header = ["metric", "value", "prior year", "change", "target", "status", "records",
              f"weakest segment (n >= {min_denominator})", "top opportunity (utility-wide lift)"]
    table = []
    for r in rows:
        m = r["metric"]
        w = r["weakest"]
        weakest = "-" if w is None else f"{w['segment_type']}={w['segment_value']}: {format_value(m, w['value'])} (n={w['records']})"
        table.append([m, format_value(m, r["value"]), format_value(m, r["prior_year"]), format_change(m, r["change"]),
                      format_value(m, r["target"]), r["status"], str(r["records"]), weakest,
                      format_opportunity(m, r.get("top_opportunity"))])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)] if table else [len(h) for h in header]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [
        f"CX scorecard for {month} (latest complete month; as-of date {as_of})",
        line(header),
        line(["-" * w for w in widths]),
        *[line(t) for t in table],
        "Segments of different types overlap: their lifts do not add up (marts.fct_cx_opportunities).",
    ]
