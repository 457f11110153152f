-- CSAT over 13 weeks: for week W and a segment, the sums of the weekly
-- numerators and denominators over weeks W-12 .. W and their ratio. One row
-- per week of the reporting window whose 13-week denominator is above 0.
with weekly as (
    select
        calendar.week_start,
        csat.segment_type,
        csat.segment_value,
        sum(csat.numerator) as numerator,
        sum(csat.denominator) as denominator
    from {{ ref('int_metric_daily') }} as csat
    inner join {{ ref('int_calendar_days') }} as calendar on csat.reference_date = calendar.calendar_date
    where csat.metric_name = 'csat'
    group by calendar.week_start, csat.segment_type, csat.segment_value
),

weeks as (
    select distinct week_start from {{ ref('int_calendar_days') }}
),

rolled as (
    select
        weeks.week_start,
        weekly.segment_type,
        weekly.segment_value,
        sum(weekly.numerator) as numerator_13w,
        sum(weekly.denominator) as denominator_13w
    from weeks
    inner join weekly
        on
            weeks.week_start >= weekly.week_start
            and weekly.week_start >= cast({{ dbt.dateadd('day', -84, 'weeks.week_start') }} as date)
    group by weeks.week_start, weekly.segment_type, weekly.segment_value
)

select
    cast(week_start as date) as week_start,
    cast(segment_type as {{ dbt.type_string() }}) as segment_type,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(numerator_13w as {{ type_double() }}) as numerator_13w,
    cast(denominator_13w as {{ dbt.type_bigint() }}) as denominator_13w,
    cast(numerator_13w / denominator_13w as {{ type_double() }}) as csat_13w
from rolled
where denominator_13w > 0
