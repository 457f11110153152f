-- The six CX metrics by period (day, week, month) and segment. Numerators and
-- denominators are stored so any roll-up is a ratio of sums. Weeks and months
-- of the five additive metrics are sums of their days; e-bill adoption takes
-- the period's snapshot day (last day, or the as-of date if earlier).
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

period_grains as (
    select 'day' as period_grain
    union all
    select 'week' as period_grain
    union all
    select 'month' as period_grain
),

additive as (
    select
        additive_daily.metric_name,
        period_grains.period_grain,
        {{ period_start_of('period_grains.period_grain', 'calendar') }} as period_start,
        additive_daily.segment_type,
        additive_daily.segment_value,
        sum(additive_daily.numerator) as numerator,
        sum(additive_daily.denominator) as denominator
    from {{ ref('int_metric_daily') }} as additive_daily
    inner join calendar on additive_daily.reference_date = calendar.calendar_date
    cross join period_grains
    group by
        additive_daily.metric_name,
        period_grains.period_grain,
        {{ period_start_of('period_grains.period_grain', 'calendar') }},
        additive_daily.segment_type,
        additive_daily.segment_value
),

ebill as (
    select
        'ebill_adoption' as metric_name,
        period_grains.period_grain,
        {{ period_start_of('period_grains.period_grain', 'calendar') }} as period_start,
        ebill_daily.segment_type,
        ebill_daily.segment_value,
        ebill_daily.ebill_accounts as numerator,
        ebill_daily.active_accounts as denominator
    from {{ ref('int_ebill_daily') }} as ebill_daily
    inner join calendar on ebill_daily.snapshot_date = calendar.calendar_date
    cross join period_grains
    where
        period_grains.period_grain = 'day'
        or (period_grains.period_grain = 'week' and calendar.is_week_snapshot)
        or (period_grains.period_grain = 'month' and calendar.is_month_snapshot)
),

metrics as (
    select * from additive
    union all
    select * from ebill
),

valued as (
    select
        metric_name,
        period_grain,
        period_start,
        segment_type,
        segment_value,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ dbt.type_bigint() }}) as denominator,
        1.0 * numerator / denominator as metric_value,
        case period_grain
            when 'day' then period_start
            when 'week' then cast({{ dbt.dateadd('day', 6, 'period_start') }} as date)
            else cast({{ dbt.last_day('period_start', 'month') }} as date)
        end as period_end
    from metrics
    where denominator > 0
)

select
    cast(valued.metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(valued.period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(valued.period_start as date) as period_start,
    cast(valued.segment_type as {{ dbt.type_string() }}) as segment_type,
    cast(valued.segment_value as {{ dbt.type_string() }}) as segment_value,
    valued.numerator,
    valued.denominator,
    cast(valued.metric_value as {{ type_double() }}) as metric_value,
    cast(prior_year.metric_value as {{ type_double() }}) as prior_year_value,
    cast(valued.metric_value - prior_year.metric_value as {{ type_double() }}) as yoy_change,
    coalesce(
        valued.metric_name = 'first_contact_resolution'
        and {{ dbt.datediff('valued.period_end', 'reporting_window.as_of_date', 'day') }}
        < {{ var('fcr_recontact_window_days') }},
        false
    ) as is_provisional
from valued
cross join reporting_window
left join valued as prior_year
    on
        valued.period_grain = 'month'
        and prior_year.period_grain = 'month'
        and valued.metric_name = prior_year.metric_name
        and valued.segment_type = prior_year.segment_type
        and valued.segment_value = prior_year.segment_value
        and prior_year.period_start = cast({{ dbt.dateadd('year', -1, 'valued.period_start') }} as date)
