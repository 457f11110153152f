-- Pairs of effective-dated intervals that must not overlap but do, one row per
-- pair and kind (half-open [start, end) intervals, empty end = open):
--   meter_install_overlap   two install rows of one meter cover the same day.
--                           The contract keys meter_installs on meter_id, so
--                           such rows are rejected in staging as conflicting
--                           duplicates (and the meter's reads turn orphan);
--                           this lists those rows too, next to any kept ones.
--   premise_meter_overlap   two kept meters measure one premise the same day.
--   premise_account_overlap two kept accounts are active on one premise the same day.
-- Empty intervals (end <= start) cover no day and never overlap.
with install_rows as (
    select
        staging_row_id as install_row_id,
        meter_id,
        premise_id,
        installed_date,
        removed_date,
        is_rejected
    from {{ ref('stg_cis__meter_installs') }}
    where
        meter_id is not null
        and premise_id is not null
        and installed_date is not null
        and (removed_date is null or installed_date < removed_date)
        and (not is_rejected or reject_reason = 'conflicting duplicate of primary key')
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
    select
        'meter_install_overlap' as overlap_kind,
        first_row.meter_id as overlap_key,
        first_row.install_row_id as row_id_a,
        second_row.install_row_id as row_id_b,
        first_row.premise_id as entity_a,
        second_row.premise_id as entity_b,
        first_row.is_rejected as is_rejected_a,
        second_row.is_rejected as is_rejected_b,
        first_row.installed_date as start_a,
        first_row.removed_date as end_a,
        second_row.installed_date as start_b,
        second_row.removed_date as end_b
    from install_rows as first_row
    inner join install_rows as second_row
        on
            first_row.meter_id = second_row.meter_id
            and first_row.install_row_id < second_row.install_row_id
            and (second_row.removed_date is null or first_row.installed_date < second_row.removed_date)
            and (first_row.removed_date is null or first_row.removed_date > second_row.installed_date)

    union all

    select
        'premise_meter_overlap' as overlap_kind,
        first_row.premise_id as overlap_key,
        first_row.install_row_id as row_id_a,
        second_row.install_row_id as row_id_b,
        first_row.meter_id as entity_a,
        second_row.meter_id as entity_b,
        first_row.is_rejected as is_rejected_a,
        second_row.is_rejected as is_rejected_b,
        first_row.installed_date as start_a,
        first_row.removed_date as end_a,
        second_row.installed_date as start_b,
        second_row.removed_date as end_b
    from install_rows as first_row
    inner join install_rows as second_row
        on
            first_row.premise_id = second_row.premise_id
            and first_row.meter_id < second_row.meter_id
            and (second_row.removed_date is null or first_row.installed_date < second_row.removed_date)
            and (first_row.removed_date is null or first_row.removed_date > second_row.installed_date)
    where not first_row.is_rejected and not second_row.is_rejected

    union all

    select
        'premise_account_overlap' as overlap_kind,
        first_row.premise_id as overlap_key,
        first_row.account_id as row_id_a,
        second_row.account_id as row_id_b,
        first_row.account_id as entity_a,
        second_row.account_id as entity_b,
        false as is_rejected_a,
        false as is_rejected_b,
        first_row.opened_date as start_a,
        first_row.closed_date as end_a,
        second_row.opened_date as start_b,
        second_row.closed_date as end_b
    from account_rows as first_row
    inner join account_rows as second_row
        on
            first_row.premise_id = second_row.premise_id
            and first_row.account_id < second_row.account_id
            and (second_row.closed_date is null or first_row.opened_date < second_row.closed_date)
            and (first_row.closed_date is null or first_row.closed_date > second_row.opened_date)
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
    is_rejected_a,
    is_rejected_b,
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
