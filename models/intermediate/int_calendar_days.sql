-- One row per day of the reporting window with the periods holding it and
-- whether it is the snapshot day of its week or month (the period's last day,
-- or the as-of date if earlier), used by snapshot metrics such as e-bill adoption.
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

days as (
    {{ day_spine('(select window_start_date from reporting_window)', '(select as_of_date from reporting_window)') | indent(4) }}
),

periods as (
    select
        cast(days.date_day as date) as calendar_date,
        cast({{ dbt.date_trunc('week', 'days.date_day') }} as date) as week_start,
        cast({{ dbt.date_trunc('month', 'days.date_day') }} as date) as month_start
    from days
)

select
    periods.calendar_date,
    periods.week_start,
    cast({{ dbt.dateadd('day', 6, 'periods.week_start') }} as date) as week_end,
    periods.month_start,
    cast({{ dbt.last_day('periods.month_start', 'month') }} as date) as month_end,
    periods.calendar_date = least(cast({{ dbt.dateadd('day', 6, 'periods.week_start') }} as date), reporting_window.as_of_date) as is_week_snapshot,
    periods.calendar_date = least(cast({{ dbt.last_day('periods.month_start', 'month') }} as date), reporting_window.as_of_date) as is_month_snapshot
from periods
cross join reporting_window
