-- E-bill adoption per day of the reporting window and segment: accounts
-- active that day (denominator) and those of them on `ebill` (numerator).
-- Computed from interval start/end deltas and a running sum over the
-- calendar, so the cost grows with intervals + days x segments, not
-- accounts x days. Deltas before the window are folded into its first day.
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

segmented as (
    select
        segment_types.segment_type,
        {{ segment_value('segment_types.segment_type', 'intervals', has_contact_reason=false) }} as segment_value,
        intervals.valid_from,
        intervals.valid_to,
        case when intervals.is_ebill then 1 else 0 end as ebill
    from {{ ref('int_account_delivery_intervals') }} as intervals
    cross join reporting_window
    cross join {{ ref('segment_types') }} as segment_types
    where
        segment_types.segment_type <> 'contact_reason'
        and intervals.valid_from <= reporting_window.as_of_date
        and intervals.valid_to > reporting_window.window_start_date
),

deltas as (
    select
        segmented.segment_type,
        segmented.segment_value,
        greatest(segmented.valid_from, reporting_window.window_start_date) as delta_date,
        1 as active_delta,
        segmented.ebill as ebill_delta
    from segmented
    cross join reporting_window
    union all
    select
        segmented.segment_type,
        segmented.segment_value,
        segmented.valid_to as delta_date,
        -1 as active_delta,
        -segmented.ebill as ebill_delta
    from segmented
    cross join reporting_window
    where segmented.valid_to <= reporting_window.as_of_date
),

daily_deltas as (
    select
        segment_type,
        segment_value,
        delta_date,
        sum(active_delta) as active_delta,
        sum(ebill_delta) as ebill_delta
    from deltas
    group by segment_type, segment_value, delta_date
),

segments as (
    select distinct
        segment_type,
        segment_value
    from daily_deltas
),

running as (
    select
        calendar.calendar_date,
        segments.segment_type,
        segments.segment_value,
        sum(coalesce(daily_deltas.active_delta, 0)) over (
            partition by segments.segment_type, segments.segment_value
            order by calendar.calendar_date
            rows between unbounded preceding and current row
        ) as active_accounts,
        sum(coalesce(daily_deltas.ebill_delta, 0)) over (
            partition by segments.segment_type, segments.segment_value
            order by calendar.calendar_date
            rows between unbounded preceding and current row
        ) as ebill_accounts
    from {{ ref('int_calendar_days') }} as calendar
    cross join segments
    left join daily_deltas
        on
            segments.segment_type = daily_deltas.segment_type
            and segments.segment_value = daily_deltas.segment_value
            and calendar.calendar_date = daily_deltas.delta_date
)

select
    calendar_date as snapshot_date,
    segment_type,
    segment_value,
    cast(ebill_accounts as {{ dbt.type_bigint() }}) as ebill_accounts,
    cast(active_accounts as {{ dbt.type_bigint() }}) as active_accounts
from running
where active_accounts > 0
