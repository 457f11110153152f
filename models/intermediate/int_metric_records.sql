-- The additive metrics at entity grain: one row per record that enters a
-- metric, with its numerator and denominator contributions, reference date,
-- attributed account (null = unknown) and that account's segment attributes
-- on the reference date (account class, rate code, service area, age band),
-- contact reason (FCR, AHT and the contact rate), channel (self-service
-- adoption's interactions, for the channel mix) and trigger type (CSAT
-- responses, for CSAT by touchpoint). E-bill adoption is a snapshot metric
-- (int_ebill_daily); the inbound contact rate's records are its numerator
-- only (denominator 0 here): its denominator is the active accounts of the
-- period's snapshot day.
--
-- Incremental (delete+insert by metric and record; a table on Spark;
-- docs/incremental.md): a scheduled run computes every record, sums it and
-- the stored rows per partition (metric, reference date and one of 1,024
-- account buckets), and diffs row by row only the partitions whose sums
-- differ (cx_changed_partition_rows): a new day's partitions, a late
-- correction's, those of an account whose segment attributes changed. It
-- writes the records that are new or differ from the stored row, stamped
-- with loaded_at, which is what the daily sums and the semantic facts read.
-- A record no longer computed is written as a tombstone (is_dropped), which
-- replaces its stored row and which the post-hook then deletes. The bill
-- records are left out of both sides when nothing they depend on was built
-- again since the last run (skip_bills below; cx_rebuilt_since_last_run).
{{ config(**cx_incremental_config(
    'delete+insert', unique_key=['metric_name', 'record_id'],
    post_hook="{{ metric_records_delete_tombstones() }}")) }}
{%- set plan = cx_change_plan(none, none) %}
{#- The bill records depend only on int_bills, int_accounts (the segment) and
    the reporting window, which holds every kept bill unless var as_of_date
    pins it, and a pinned date is one of the run's settings. When neither
    table was built again since this model's last run, with the same
    settings and code (cx_rebuilt_since_last_run), they cannot have changed:
    a scheduled run then neither computes nor diffs them (on a day without
    billing or account deliveries, two thirds of the records at 1 M
    accounts). -#}
{%- set skip_bills = cx_bills_unchanged_since_last_run(plan) %}
{%- set partition_columns = ['metric_name', 'reference_date'] %}

with surveys as (
    select * from {{ ref('stg_cis__surveys') }}
    where is_in_force
),

csat as (
    select
        'csat' as metric_name,
        survey_id as record_id,
        cast(responded_at as date) as reference_date,
        account_id,
        cast(null as {{ dbt.type_string() }}) as contact_reason,
        cast(null as {{ dbt.type_string() }}) as channel,
        trigger_type,
        case when score >= 4 then 1.0 else 0.0 end as numerator,
        1 as denominator
    from surveys
    where responded_at is not null and score between 1 and 5
),

first_contact_resolution as (
    select
        'first_contact_resolution' as metric_name,
        ticket_id as record_id,
        first_contact_date as reference_date,
        account_id,
        first_contact_reason_code as contact_reason,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as trigger_type,
        case when is_first_contact_resolved then 1.0 else 0.0 end as numerator,
        1 as denominator
    from {{ ref('int_tickets') }}
    where is_fcr_eligible
),

self_service_adoption as (
    select
        'self_service_adoption' as metric_name,
        transaction_id as record_id,
        transaction_date as reference_date,
        account_id,
        cast(null as {{ dbt.type_string() }}) as contact_reason,
        channel,
        cast(null as {{ dbt.type_string() }}) as trigger_type,
        1.0 as numerator,
        1 as denominator
    from {{ ref('int_self_service_transactions') }}
    union all
    select
        'self_service_adoption' as metric_name,
        {{ dbt.concat(["'assisted_contact:'", 'contact_id']) }} as record_id,
        started_date as reference_date,
        account_id,
        cast(null as {{ dbt.type_string() }}) as contact_reason,
        channel,
        cast(null as {{ dbt.type_string() }}) as trigger_type,
        0.0 as numerator,
        1 as denominator
    from {{ ref('int_contacts') }}
    where is_assisted_contact
),

bill_accuracy as (
    select
        'bill_accuracy' as metric_name,
        bill_id as record_id,
        bill_date as reference_date,
        account_id,
        cast(null as {{ dbt.type_string() }}) as contact_reason,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as trigger_type,
        case when is_accurate then 1.0 else 0.0 end as numerator,
        1 as denominator
    from {{ ref('int_bills') }}
),

average_handle_time as (
    select
        'average_handle_time' as metric_name,
        contact_id as record_id,
        started_date as reference_date,
        account_id,
        reason_code as contact_reason,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as trigger_type,
        cast(handle_seconds as {{ type_double() }}) as numerator,
        1 as denominator
    from {{ ref('int_contacts') }}
    where is_agent_handled_call
),

inbound_contact_rate as (
    select
        'inbound_contact_rate' as metric_name,
        contact_id as record_id,
        started_date as reference_date,
        account_id,
        reason_code as contact_reason,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as trigger_type,
        1.0 as numerator,
        0 as denominator
    from {{ ref('int_contacts') }}
),

unioned as (
    select * from csat
    union all
    select * from first_contact_resolution
    union all
    select * from self_service_adoption
    {%- if not skip_bills %}
    union all
    select * from bill_accuracy
    {%- endif %}
    union all
    select * from average_handle_time
    union all
    select * from inbound_contact_rate
),

computed as {{ cte_not_materialized() }} (
    select
        unioned.metric_name,
        unioned.record_id,
        unioned.reference_date,
        unioned.account_id,
        unioned.contact_reason,
        unioned.channel,
        unioned.trigger_type,
        cast(unioned.numerator as {{ type_double() }}) as numerator,
        cast(unioned.denominator as {{ dbt.type_bigint() }}) as denominator,
        {{ account_segment_attributes('accounts', 'unioned.reference_date') }}
    from unioned
    cross join {{ ref('int_reporting_window') }} as reporting_window
    left join {{ ref('int_accounts') }} as accounts on unioned.account_id = accounts.account_id
    where unioned.reference_date between reporting_window.window_start_date and reporting_window.as_of_date
),
{%- if plan %}

stored_rows as {{ cte_not_materialized() }} (
    -- read twice, each time as a scan (not a copy of the table)
    select * from {{ this }}
    {%- if skip_bills %}
    where metric_name <> 'bill_accuracy'
    {%- endif %}
),

{{ cx_changed_partition_rows('computed', 'stored_rows', partition_columns, 'account_id',
                             ['record_id'] + metric_record_columns(), 'changed', 'stored') }},

changes as (
    -- records new or different from the stored row
    select
        changed.*,
        false as is_dropped
    from changed
    left join stored
        on
            changed.metric_name = stored.metric_name
            and changed.record_id = stored.record_id
    where {{ cx_row_differs('changed', 'stored', 'record_id', metric_record_columns()) }}
    union all
    -- stored records no longer computed: tombstones
    select
        stored.metric_name,
        stored.record_id,
        {%- for column in metric_record_columns() %}
        stored.{{ column }},
        {%- endfor %}
        true as is_dropped
    from stored
    where not exists (
        select 1
        from changed
        where
            changed.metric_name = stored.metric_name
            and changed.record_id = stored.record_id
    )
)
{%- else %}

changes as (
    select
        computed.*,
        false as is_dropped
    from computed
)
{%- endif %}

select
    changes.*,
    {{ cx_loaded_at() }} as loaded_at
from changes
