-- CSAT per touchpoint: the survey's trigger type (bill, payment,
-- service_order, contact: the CIS event the survey was sent about) by period
-- (day, week, month) and segment, dated and segmented exactly like csat
-- (response date; the survey's account), so the touchpoints of a period and
-- segment add up to its csat row. One row per (trigger_type, period_grain,
-- period_start, segment_type, segment_value) with responses.
with calendar as (
    select * from {{ ref('int_calendar_days') }}
),

period_grains as (
    {{ period_grains() }}
),

periods as (
    {{ sum_daily_to_periods(keys=['trigger_type'], metrics=['csat']) }}
)

select
    cast(trigger_type as {{ dbt.type_string() }}) as trigger_type,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(segment_type as {{ dbt.type_string() }}) as segment_type,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(numerator as {{ type_double() }}) as numerator,
    cast(denominator as {{ dbt.type_bigint() }}) as denominator,
    cast(1.0 * numerator / denominator as {{ type_double() }}) as csat
from periods
where denominator > 0
