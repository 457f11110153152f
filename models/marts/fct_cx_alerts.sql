-- Where experience breaks down: the segments whose latest complete month is
-- worse than their own baseline (the ratio of sums over the 12 months before
-- it) by more than var alert_standard_errors standard errors, with at least
-- alert_min_volume records that month and alert_min_baseline_months months of
-- baseline. The standard error is that of a proportion, sqrt(p0 (1 - p0) / n),
-- for the share metrics; of a mean, sqrt(variance / n), for average handle
-- time (the variance of handle seconds over the baseline's calls); of a
-- Poisson rate, sqrt(r0 / n), for the inbound contact rate; n is the month's
-- denominator. "Worse" follows metric_targets.direction. Ranked by volume
-- (the month's customers or records in the segment), then by the size of the
-- gap in standard errors.
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

period_grains as (
    select 'month' as period_grain
),

latest as (
    select
        cast(
            {{ dbt.dateadd('month', -1, dbt.date_trunc('month', dbt.dateadd('day', 1, 'as_of_date'))) }}
            as date
        ) as month_start
    from reporting_window
),

months as (
    select
        metric_name,
        period_start,
        segment_type,
        segment_value,
        numerator,
        denominator,
        metric_value,
        is_provisional
    from {{ ref('fct_cx_metrics') }}
    where period_grain = 'month'
),

handle_time_squares as (
    {{ sum_daily_to_periods(metrics=['average_handle_time']) }}
),

current_month as (
    select months.*
    from months
    inner join latest on months.period_start = latest.month_start
),

baseline as (
    select
        months.metric_name,
        months.segment_type,
        months.segment_value,
        count(*) as baseline_months,
        sum(months.numerator) as numerator,
        sum(months.denominator) as denominator,
        sum(squares.numerator_sq) as numerator_sq
    from months
    cross join latest
    left join handle_time_squares as squares
        on
            months.metric_name = squares.metric_name
            and months.period_start = squares.period_start
            and months.segment_type = squares.segment_type
            and months.segment_value = squares.segment_value
    where
        months.period_start >= cast({{ dbt.dateadd('month', -var('alert_baseline_months'), 'latest.month_start') }} as date)
        and months.period_start < latest.month_start
    group by months.metric_name, months.segment_type, months.segment_value
),

compared as (
    select
        current_month.metric_name,
        current_month.segment_type,
        current_month.segment_value,
        current_month.period_start,
        current_month.metric_value,
        current_month.denominator as volume,
        current_month.is_provisional,
        targets.direction,
        baseline.baseline_months,
        baseline.denominator as baseline_volume,
        1.0 * baseline.numerator / baseline.denominator as baseline_value,
        1.0 * baseline.numerator_sq / baseline.denominator as baseline_mean_square
    from current_month
    inner join baseline
        on
            current_month.metric_name = baseline.metric_name
            and current_month.segment_type = baseline.segment_type
            and current_month.segment_value = baseline.segment_value
    inner join {{ ref('metric_targets') }} as targets on current_month.metric_name = targets.metric_name
),

scored as (
    select
        *,
        metric_value - baseline_value as gap,
        case
            when metric_name = 'average_handle_time'
                then sqrt(greatest(baseline_mean_square - baseline_value * baseline_value, 0) / volume)
            when metric_name = 'inbound_contact_rate'
                then sqrt(baseline_value / volume)
            else sqrt(greatest(baseline_value * (1 - baseline_value), 0) / volume)
        end as standard_error
    from compared
),

alerts as (
    select * from scored
    where
        volume >= {{ var('alert_min_volume') }}
        and baseline_months >= {{ var('alert_min_baseline_months') }}
        and abs(gap) > {{ var('alert_standard_errors') }} * standard_error
        and (
            (direction = 'higher_is_better' and gap < 0)
            or (direction = 'lower_is_better' and gap > 0)
        )
)

select
    cast(row_number() over (
        order by
            volume desc,
            case when standard_error > 0 then abs(gap) / standard_error end desc nulls first,
            {{ cx_bytewise('metric_name') }} asc, {{ cx_bytewise('segment_type') }} asc, {{ cx_bytewise('segment_value') }} asc
    ) as {{ dbt.type_bigint() }}) as alert_rank,
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(segment_type as {{ dbt.type_string() }}) as segment_type,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(period_start as date) as period_start,
    cast(metric_value as {{ type_double() }}) as metric_value,
    cast(baseline_value as {{ type_double() }}) as baseline_value,
    cast(gap as {{ type_double() }}) as gap,
    cast(standard_error as {{ type_double() }}) as standard_error,
    cast(case when standard_error > 0 then gap / standard_error end as {{ type_double() }}) as z_score,
    cast(volume as {{ dbt.type_bigint() }}) as volume,
    cast(baseline_volume as {{ dbt.type_bigint() }}) as baseline_volume,
    cast(baseline_months as {{ dbt.type_bigint() }}) as baseline_months,
    cast(is_provisional as boolean) as is_provisional
from alerts
