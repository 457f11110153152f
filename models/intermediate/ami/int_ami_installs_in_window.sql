-- One row per kept meter install whose interval meets the reporting window,
-- clipped to it: coverage_start_date (the install day or the window start) and
-- coverage_end_date (exclusive: the removal day, or the day after the as-of
-- date). Shared by int_ami_read_gaps and int_ami_install_coverage.
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
    where is_in_force
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
)

select
    install_row_id,
    meter_id,
    premise_id,
    installed_date,
    removed_date,
    coverage_start_date,
    coverage_end_date
from clipped
where coverage_start_date < coverage_end_date
