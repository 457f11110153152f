-- Gaps: runs of consecutive installed meter-days inside the reporting window
-- with no kept read, one row per gap. Set-based on intervals: per install
-- (clipped to the window and the as-of date) the kept reads it covers are
-- bracketed by two sentinel days (the day before the clipped start and the
-- clipped exclusive end); wherever two consecutive markers are more than a day
-- apart, the days between them are a gap. Nothing is exploded per day.
with windowed as (
    select * from {{ ref('int_ami_installs_in_window') }}
),

reads as (
    select
        meter_id,
        read_date
    from {{ ref('stg_cis__ami_daily_reads') }}
    where is_in_force
),

markers as (
    select
        windowed.install_row_id,
        reads.read_date as marker_date
    from windowed
    inner join reads
        on
            windowed.meter_id = reads.meter_id
            and windowed.coverage_start_date <= reads.read_date
            and windowed.coverage_end_date > reads.read_date

    union all

    select
        install_row_id,
        cast({{ dbt.dateadd('day', -1, 'coverage_start_date') }} as date) as marker_date
    from windowed

    union all

    select
        install_row_id,
        coverage_end_date as marker_date
    from windowed
),

sequenced as (
    select
        install_row_id,
        marker_date,
        lead(marker_date) over (partition by install_row_id order by marker_date) as next_marker_date
    from markers
)

select
    {{ dbt.concat(["sequenced.install_row_id", "'|'", dbt.cast("sequenced.marker_date", dbt.type_string())]) }} as gap_id,
    sequenced.install_row_id,
    windowed.meter_id,
    windowed.premise_id,
    cast({{ dbt.dateadd('day', 1, 'sequenced.marker_date') }} as date) as gap_start_date,
    cast({{ dbt.dateadd('day', -1, 'sequenced.next_marker_date') }} as date) as gap_end_date,
    {{ dbt.datediff('sequenced.marker_date', 'sequenced.next_marker_date', 'day') }} - 1 as gap_days
from sequenced
inner join windowed on sequenced.install_row_id = windowed.install_row_id
where {{ dbt.datediff('sequenced.marker_date', 'sequenced.next_marker_date', 'day') }} > 1
