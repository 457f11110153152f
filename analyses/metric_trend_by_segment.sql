-- Ad-hoc: a metric's monthly trend for one segment type, with the prior-year
-- value, for pasting into a review deck. Compile with
--   dbt compile --select metric_trend_by_segment --vars '{metric: csat, segment_type: age_band}'
select
    metrics.period_start,
    metrics.segment_value,
    metrics.numerator,
    metrics.denominator,
    metrics.metric_value,
    metrics.prior_year_value,
    metrics.yoy_change
from {{ ref('fct_cx_metrics') }} as metrics
where
    metrics.metric_name = '{{ var("metric", "csat") }}'
    and metrics.period_grain = 'month'
    and metrics.segment_type = '{{ var("segment_type", "all") }}'
order by metrics.period_start, metrics.segment_value
