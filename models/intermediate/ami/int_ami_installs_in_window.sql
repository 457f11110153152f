-- One row per kept meter install whose interval meets the AMI feed's span
-- (earliest to latest read_date of the reads in force), clipped to it:
-- coverage_start_date (the install day or the span start) and
-- coverage_end_date (exclusive: the removal day, or the day after the span
-- end). A daily feed carries recent days, not the whole reporting window, so
-- coverage is judged inside the span only. Shared by int_ami_read_gaps and
-- int_ami_install_coverage.
with feed_span as (
    select
        min(read_date) as span_start_date,
        max(read_date) as span_end_date
    from {{ ref('stg_cis__ami_daily_reads') }}
    where is_in_force
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
            when installs.installed_date < feed_span.span_start_date then feed_span.span_start_date
            else installs.installed_date
        end as coverage_start_date,
        -- exclusive end: the removal day, or the day after the span end
        case
            when installs.removed_date is not null and installs.removed_date <= feed_span.span_end_date
                then installs.removed_date
            else cast({{ dbt.dateadd('day', 1, 'feed_span.span_end_date') }} as date)
        end as coverage_end_date
    from installs
    cross join feed_span
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
