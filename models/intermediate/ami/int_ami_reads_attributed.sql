-- Every kept AMI daily read attributed to the premise its meter measured that
-- day and to the account active on that premise that day (both hops
-- effective-dated, half-open [start, end) intervals, empty end = open).
--
-- Set-based and bounded: the install and account intervals (small tables) are
-- first cut into non-overlapping elementary segments per meter / per premise,
-- each knowing how many intervals cover it. A read then equi-joins on
-- meter_id (and the premise on premise_id) plus a range predicate and meets at
-- most one segment per hop, so there is no aggregation over reads and no
-- account x day explosion. Open segments end on a far-future sentinel so the
-- read joins are plain equality + range comparisons (hash joins, not nested
-- loops, for outer joins too).
--
-- Incremental (delete+insert by read_date; on Spark insert_overwrite of the
-- read_date partitions, the same rows): a scheduled run recomputes only the
-- read days of the staged reads written since its last run (cx_change_plan),
-- plus the last var('lookback_days') days of the feed. When the meter installs
-- or accounts (the two effective-dated hops) were reloaded, every day is
-- recomputed (the dimension_version input stamp).
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='read_date',
    partition_by=(['read_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('stg_cis__accounts') }}
{%- set open_end = "cast('9999-12-31' as date)" %}
{%- set reads_rel = ref('stg_cis__ami_daily_reads') %}
{%- set dims_version_sql -%}
    select
        coalesce({{ cx_string_agg_sorted('version_key', "','") }}, '') as dimension_version
    from (
        select distinct 'installs:' || source_delivery || '@' || delivery_fingerprint as version_key
        from {{ ref('stg_cis__meter_installs') }}
        union all
        select distinct 'accounts:' || source_delivery || '@' || delivery_fingerprint as version_key
        from {{ ref('stg_cis__accounts') }}
    ) as versions
{%- endset %}
{#- what changed since this table's last run (cx_change_plan): the read days
    of staging rows written since, or everything when the dimension version
    differs from the stored one -#}
{%- set changes = cx_change_plan(reads_rel, 'read_date', stamps={'dimension_version': '(' ~ dims_version_sql ~ ')'}) %}
{%- set recompute_all = changes is none %}
with
{%- if not recompute_all %}
work_dates as (
    -- days holding staged reads written since this table's last run (new
    -- deliveries, corrections, and the deliveries staging rewrote with them)
    select changed.changed_key as read_date
    from ({{ changes.changed_keys }}) as changed
    union
    -- and the lookback: the last days of the feed, for late reads and corrections
    select distinct read_date
    from {{ reads_rel }}
    where read_date >= (
        select cast({{ dbt.dateadd('day', -1 * var('lookback_days', 7), 'max(read_date)') }} as date)
        from {{ reads_rel }}
        where is_in_force
    )
),
{%- endif %}

dimension_version as (
    -- the meter-install and account deliveries this attribution is computed with
    {{ dims_version_sql }}
),

reads as (
    select
        meter_id,
        read_date,
        kwh,
        read_quality,
        source_delivery,
        delivery_fingerprint
    from {{ reads_rel }}
    where {{ "is_in_force" if recompute_all else "is_in_force and read_date in (select read_date from work_dates)" }}
),

installs as (
    select
        meter_id,
        premise_id,
        installed_date,
        removed_date
    from {{ ref('stg_cis__meter_installs') }}
    where is_in_force
),

accounts as (
    select
        account_id,
        premise_id,
        opened_date,
        closed_date
    from {{ ref('int_accounts') }}
),

-- hop 1: meter -> premise ------------------------------------------------
meter_bounds as (
    select
        meter_id,
        installed_date as bound_date
    from installs
    union
    select
        meter_id,
        removed_date as bound_date
    from installs
    where removed_date is not null
),

meter_pieces as (
    select
        meter_id,
        bound_date as segment_start,
        coalesce(lead(bound_date) over (partition by meter_id order by bound_date), {{ open_end }}) as segment_end
    from meter_bounds
),

meter_segments as (
    -- no bound lies inside a piece, so coverage at its first day holds for all of it;
    -- pieces no install covers (gaps between installs) drop out here
    select
        meter_pieces.meter_id,
        meter_pieces.segment_start,
        meter_pieces.segment_end,
        count(*) as installs_covering,
        count(distinct installs.premise_id) as premises_covering,
        min({{ cx_bytewise('installs.premise_id') }}) as premise_id
    from meter_pieces
    inner join installs
        on
            meter_pieces.meter_id = installs.meter_id
            and meter_pieces.segment_start >= installs.installed_date
            and (installs.removed_date is null or meter_pieces.segment_start < installs.removed_date)
    group by meter_pieces.meter_id, meter_pieces.segment_start, meter_pieces.segment_end
),

-- hop 2: premise -> account ----------------------------------------------
premise_bounds as (
    select
        premise_id,
        opened_date as bound_date
    from accounts
    union
    select
        premise_id,
        closed_date as bound_date
    from accounts
    where closed_date is not null
),

premise_pieces as (
    select
        premise_id,
        bound_date as segment_start,
        coalesce(lead(bound_date) over (partition by premise_id order by bound_date), {{ open_end }}) as segment_end
    from premise_bounds
),

premise_segments as (
    select
        premise_pieces.premise_id,
        premise_pieces.segment_start,
        premise_pieces.segment_end,
        count(*) as accounts_active,
        min(accounts.account_id) as account_id
    from premise_pieces
    inner join accounts
        on
            premise_pieces.premise_id = accounts.premise_id
            and premise_pieces.segment_start >= accounts.opened_date
            and (accounts.closed_date is null or premise_pieces.segment_start < accounts.closed_date)
    group by premise_pieces.premise_id, premise_pieces.segment_start, premise_pieces.segment_end
),

-- reads through both hops ------------------------------------------------
read_premise as (
    select
        reads.meter_id,
        reads.read_date,
        reads.kwh,
        reads.read_quality,
        reads.source_delivery,
        reads.delivery_fingerprint,
        coalesce(meter_segments.installs_covering, 0) as installs_covering,
        coalesce(meter_segments.premises_covering, 0) as premises_covering,
        -- a read during an overlap of two installs of its meter is unattributable
        case when meter_segments.installs_covering = 1 then meter_segments.premise_id end as premise_id
    from reads
    left join meter_segments
        on
            reads.meter_id = meter_segments.meter_id
            and reads.read_date >= meter_segments.segment_start
            and reads.read_date < meter_segments.segment_end
),

read_account as (
    select
        read_premise.*,
        dimension_version.dimension_version,
        case
            when read_premise.premise_id is not null then coalesce(premise_segments.accounts_active, 0)
        end as accounts_active,
        case when premise_segments.accounts_active = 1 then premise_segments.account_id end as matched_account_id
    from read_premise
    cross join dimension_version
    left join premise_segments
        on
            read_premise.premise_id = premise_segments.premise_id
            and read_premise.read_date >= premise_segments.segment_start
            and read_premise.read_date < premise_segments.segment_end
)

select
    meter_id,
    read_date,
    kwh,
    read_quality,
    read_quality = 'estimated' as is_estimated,
    premise_id,
    matched_account_id as account_id,
    installs_covering,
    premises_covering,
    accounts_active,
    case
        when installs_covering = 0 then 'orphan_read'
        when installs_covering > 1 then 'ambiguous_premise'
        when accounts_active = 0 then 'vacant_premise'
        when accounts_active > 1 then 'ambiguous_account'
        else 'attributed'
    end as attribution_status,
    source_delivery,
    delivery_fingerprint,
    dimension_version,
    {{ cx_loaded_at() }} as loaded_at
from read_account
