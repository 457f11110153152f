-- Fails for every delivery of a CIS export whose rows do not reconcile: the
-- records counted straight from its file (those the CSV reader could parse,
-- plus the malformed ones it reported) must equal kept + exact duplicates +
-- rejected + superseded, and every export must be present.
-- With var test_scope 'batch' (a scheduled incremental run) only the files
-- of the deliveries in the batch (written since the last published run) are
-- read and counted (the cost of
-- a day, not of the history); a full build and the monthly cadence count
-- every delivery (docs/scheduling.md).
{%- set exports = cis_export_names() %}
{%- set batch = cx_test_scope() == 'batch' %}
with file_counts as (
    {%- for name in exports %}
    {%- set staged = ref('stg_cis__' ~ name[4:]) %}
    {%- if batch %}
    {%- set files = cx_batch_delivery_files(name, staged) %}
    {%- endif %}
    -- every column is read (concat_ws), so that the reader checks every value
    select
        '{{ name }}' as source_file,
        source_delivery,
        count(concat_ws('|', {{ cis_contract_columns(name) | join(', ') }})) as file_rows
    {%- if not batch %}
    from {{ source('cis', name) }}
    {%- elif files %}
    from ({{ cis_read_files(name, files) }}) as batch_files
    {%- else %}
    from {{ source('cis', name) }}
    where 1 = 0
    {%- endif %}
    group by source_delivery
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

exports as (
    {%- for name in exports %}
    select '{{ name }}' as source_file
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

missing_exports as (
    select
        exports.source_file,
        cast(null as {{ dbt.type_string() }}) as source_delivery,
        cast(null as {{ dbt.type_bigint() }}) as file_rows
    from exports
    left join {{ ref('dq_row_reconciliation') }} as reconciliation
        on exports.source_file = reconciliation.source_file
    where reconciliation.source_file is null
),

unreconciled as (
    select
        file_counts.source_file,
        file_counts.source_delivery,
        file_counts.file_rows
    from file_counts
    left join {{ ref('dq_load_deliveries') }} as deliveries
        on
            file_counts.source_file = deliveries.source_file
            and file_counts.source_delivery = deliveries.source_delivery
    where
        deliveries.source_delivery is null
        or deliveries.raw_rows <> file_counts.file_rows + deliveries.malformed_rows
        or deliveries.raw_rows <> (
            deliveries.kept_rows + deliveries.duplicate_rows
            + deliveries.rejected_rows + deliveries.superseded_rows
        )
)
{%- if not batch %},

-- a staged delivery whose file is no longer in the landing folder
stale_deliveries as (
    select
        deliveries.source_file,
        deliveries.source_delivery,
        cast(null as {{ dbt.type_bigint() }}) as file_rows
    from {{ ref('dq_load_deliveries') }} as deliveries
    left join file_counts
        on
            deliveries.source_file = file_counts.source_file
            and deliveries.source_delivery = file_counts.source_delivery
    where file_counts.source_delivery is null
)
{%- endif %}

select * from missing_exports
union all
select * from unreconciled
{%- if not batch %}
union all
select * from stale_deliveries
{%- endif %}
