-- One row per kept meter install whose interval meets the reporting window:
-- the installed meter-days inside the window (clipped to the window start and
-- the as-of date) and how many of them have no kept read (from the gap
-- intervals in int_ami_read_gaps). Installed days are computed from the
-- interval bounds, never by listing days.
with clipped as (
    select * from {{ ref('int_ami_installs_in_window') }}
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
