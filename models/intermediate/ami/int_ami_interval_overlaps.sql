-- Pairs of effective-dated intervals that must not overlap but do, one row per
-- pair and kind (half-open [start, end) intervals, empty end = open):
--   meter_install_overlap   two kept installs of one meter (different
--                           installed_date, so different keys) cover the same
--                           day: a meter cannot measure two premises at once,
--                           and reads in the overlap stay unattributed.
--   premise_meter_overlap   two kept meters measure one premise the same day.
--   premise_account_overlap two kept accounts are active on one premise the same day.
-- Empty intervals (end <= start) cover no day and never overlap.
with install_rows as (
    select
        staging_row_id as install_row_id,
        meter_id,
        premise_id,
        installed_date,
        removed_date
    from {{ ref('stg_cis__meter_installs') }}
    where
        meter_id is not null
        and premise_id is not null
        and installed_date is not null
        and (removed_date is null or installed_date < removed_date)
        and is_in_force
),

account_rows as (
    select
        account_id,
        premise_id,
        opened_date,
        closed_date
    from {{ ref('int_accounts') }}
    where
        premise_id is not null
        and opened_date is not null
        and (closed_date is null or opened_date < closed_date)
),

pairs as (
    {{ interval_overlap_pairs(
        'meter_install_overlap', 'install_rows', key='meter_id', row_id='install_row_id', entity='premise_id',
        start_col='installed_date', end_col='removed_date', pair_order='install_row_id'
    ) }}
    union all
    {{ interval_overlap_pairs(
        'premise_meter_overlap', 'install_rows', key='premise_id', row_id='install_row_id', entity='meter_id',
        start_col='installed_date', end_col='removed_date', pair_order='meter_id'
    ) }}
    union all
    {{ interval_overlap_pairs(
        'premise_account_overlap', 'account_rows', key='premise_id', row_id='account_id', entity='account_id',
        start_col='opened_date', end_col='closed_date', pair_order='account_id'
    ) }}
),

bounded as (
    select
        *,
        case when start_a < start_b then start_b else start_a end as overlap_start_date,
        case
            when end_a is null then end_b
            when end_b is null then end_a
            when end_a < end_b then end_a
            else end_b
        end as overlap_end_date
    from pairs
)

select
    {{ dbt.concat(["overlap_kind", "'|'", "row_id_a", "'|'", "row_id_b"]) }} as overlap_id,
    overlap_kind,
    overlap_key,
    row_id_a,
    row_id_b,
    entity_a,
    entity_b,
    start_a,
    end_a,
    start_b,
    end_b,
    overlap_start_date,
    overlap_end_date,
    case
        when overlap_end_date is not null then {{ dbt.datediff('overlap_start_date', 'overlap_end_date', 'day') }}
    end as overlap_days
from bounded
