-- One row per kept meter install whose interval meets the AMI feed's span:
-- the installed meter-days inside the span and how many of them have no kept
-- read (from the gap intervals in int_ami_read_gaps). An install with at least
-- one read in the span is reporting, its days without a read are gaps; one
-- with none is non-reporting (a manually read meter, or a meter the smart
-- rollout has not reached): its days are not gaps. Installed days are computed
-- from the interval bounds, never by listing days.
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
    coalesce(gaps.gaps, 0) as gaps,
    {{ dbt.datediff('clipped.coverage_start_date', 'clipped.coverage_end_date', 'day') }} - coalesce(gaps.gap_days, 0) > 0 as is_reporting
from clipped
left join gaps on clipped.install_row_id = gaps.install_row_id
