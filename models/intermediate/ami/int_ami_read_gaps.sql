-- Gaps: runs of consecutive installed meter-days inside the AMI feed's span
-- with no kept read, one row per gap. Set-based on intervals: per install
-- (clipped to the feed's span) the kept reads it covers are bracketed by two
-- sentinel days (the day before the clipped start and the clipped exclusive
-- end); wherever two consecutive markers are more than a day apart, the days
-- between them are a gap. Nothing is exploded per day.
--
-- Incremental (append, then a post-hook retires the stored gaps the run
-- recomputed; a table on Spark): a scheduled run recomputes only the gaps that
-- end on or after day R - 1, where R is the first read day the attribution
-- rewrote since the gaps were stored (see macro ami_recompute_from). Per
-- install the first marker is then the last one before R, known without
-- reading older reads: day R - 1 itself when it has a read, else the day
-- before the stored gap that holds day R - 1, else (R - 1 before the coverage)
-- the coverage's start sentinel.
{{ config(**cx_incremental_config('append', post_hook="{{ ami_gaps_retire_recomputed() }}")) }}
{%- set plan = ami_recompute_from(require_day_before=true) %}
with windowed as (
    -- install_seq: a dense integer for the install, the key the markers are
    -- sorted by (the 32-character install_row_id made that sort of every read
    -- spill past 25 GB at 1 M accounts)
    select
        *,
        row_number() over (order by install_row_id) as install_seq
    from {{ ref('int_ami_installs_in_window') }}
    {%- if plan %}
    where coverage_end_date >= cast('{{ plan.from_date }}' as date)
    {%- endif %}
),

reads as (
    -- every kept read (the attribution holds each one, attributed or not)
    select
        meter_id,
        read_date
    from {{ ref('int_ami_reads_attributed') }}
    {%- if plan %}
    where read_date >= cast('{{ plan.from_date }}' as date)
    {%- endif %}
),

{%- if plan %}

held_gaps as (
    -- the stored gap (loaded before this run) that holds day R - 1, per install
    select
        install_row_id,
        gap_start_date
    from {{ this }}
    where
        gap_start_date <= cast('{{ plan.day_before }}' as date)
        and gap_end_date >= cast('{{ plan.day_before }}' as date)
),
{%- endif %}

markers as (
    select
        windowed.install_seq,
        reads.read_date as marker_date
    from windowed
    inner join reads
        on
            windowed.meter_id = reads.meter_id
            and windowed.coverage_start_date <= reads.read_date
            and windowed.coverage_end_date > reads.read_date

    union all

    {%- if plan %}

    select
        windowed.install_seq,
        case
            when cast('{{ plan.day_before }}' as date) < windowed.coverage_start_date
                then cast({{ dbt.dateadd('day', -1, 'windowed.coverage_start_date') }} as date)
            when held_gaps.gap_start_date is not null
                then cast({{ dbt.dateadd('day', -1, 'held_gaps.gap_start_date') }} as date)
            else cast('{{ plan.day_before }}' as date)
        end as marker_date
    from windowed
    left join held_gaps on windowed.install_row_id = held_gaps.install_row_id
    {%- else %}

    select
        install_seq,
        cast({{ dbt.dateadd('day', -1, 'coverage_start_date') }} as date) as marker_date
    from windowed
    {%- endif %}

    union all

    select
        install_seq,
        coverage_end_date as marker_date
    from windowed
),

sequenced as (
    select
        install_seq,
        marker_date,
        lead(marker_date) over (partition by install_seq order by marker_date) as next_marker_date
    from markers
)

select
    {{ dbt.concat(["windowed.install_row_id", "'|'", dbt.cast("sequenced.marker_date", dbt.type_string())]) }} as gap_id,
    windowed.install_row_id,
    windowed.meter_id,
    windowed.premise_id,
    cast({{ dbt.dateadd('day', 1, 'sequenced.marker_date') }} as date) as gap_start_date,
    cast({{ dbt.dateadd('day', -1, 'sequenced.next_marker_date') }} as date) as gap_end_date,
    {{ dbt.datediff('sequenced.marker_date', 'sequenced.next_marker_date', 'day') }} - 1 as gap_days,
    {{ cx_loaded_at() }} as loaded_at
from sequenced
inner join windowed on sequenced.install_seq = windowed.install_seq
where {{ dbt.datediff('sequenced.marker_date', 'sequenced.next_marker_date', 'day') }} > 1
