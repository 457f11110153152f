-- Every rejected raw row of every CIS export, with its key, its reasons and
-- its raw values (mart dq_rejected_rows publishes it). Exact duplicates of a
-- rejected row are one row (raw_copies counts them).
--
-- Incremental by delivery, as int_delivery_outcomes: a scheduled run reads
-- only the deliveries staging wrote since this table's last run.
{%- set plan = cx_delivery_plan() %}
{%- for name in cis_export_names() %}
select
    cast('{{ name }}' as {{ dbt.type_string() }}) as source_file,
    cast(source_delivery as {{ dbt.type_string() }}) as source_delivery,
    cast(source_line as {{ dbt.type_int() }}) as source_line,
    staging_row_id as rejected_row_id,
    cast(primary_key_value as {{ dbt.type_string() }}) as primary_key_value,
    cast(reject_reason as {{ dbt.type_string() }}) as reject_reason,
    cast(raw_row as {{ dbt.type_string() }}) as raw_row,
    cast(raw_copies as {{ dbt.type_bigint() }}) as raw_copies,
    {{ cx_loaded_at() }} as loaded_at
from {{ ref('stg_cis__' ~ name[4:]) }}
{{ cx_delivery_rows_filter(plan, 'is_rejected') }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
