-- One row per kept meter install whose interval meets the reporting window:
-- the installed meter-days inside the window (clipped to the window start and
-- the as-of date) and how many of them have no kept read (from the gap
-- intervals in int_ami_read_gaps). Installed days are computed from the
-- interval bounds, never by listing days.
with reporting_window as (
    select
        window_start_date,
        as_of_date
    from {{ ref('int_reporting_window') }}
),

installs as (
    select
        staging_row_id as install_row_id,
        meter_id,
        premise_id,
        installed_date,
        removed_date
    from {{ ref('stg_cis__meter_installs') }}
    where not is_rejected
),

clipped as (
    select
        installs.*,
        case
            when installs.installed_date < reporting_window.window_start_date then reporting_window.window_start_date
            else installs.installed_date
        end as coverage_start_date,
        -- exclusive end: the removal day, or the day after the as-of date
        case
            when installs.removed_date is not null and installs.removed_date <= reporting_window.as_of_date
                then installs.removed_date
            else cast({{ dbt.dateadd('day', 1, 'reporting_window.as_of_date') }} as date)
        end as coverage_end_date
    from installs
    cross join reporting_window
),

gaps as (
    select
        install_row_id,
        count(*) as gaps,
        sum(gap_days) as gap_days
    from {{ ref('int_ami_read_gaps') }}
    group by install_row_id
)

select
    clipped.install_row_id,
    clipped.meter_id,
    clipped.premise_id,
    clipped.installed_date,
    clipped.removed_date,
    clipped.coverage_start_date,
    cast({{ dbt.dateadd('day', -1, 'clipped.coverage_end_date') }} as date) as coverage_last_date,
    {{ dbt.datediff('clipped.coverage_start_date', 'clipped.coverage_end_date', 'day') }} as installed_days,
    {{ dbt.datediff('clipped.coverage_start_date', 'clipped.coverage_end_date', 'day') }} - coalesce(gaps.gap_days, 0) as read_days,
    coalesce(gaps.gap_days, 0) as gap_days,
    coalesce(gaps.gaps, 0) as gaps
from clipped
left join gaps on clipped.install_row_id = gaps.install_row_id
where clipped.coverage_start_date < clipped.coverage_end_date
