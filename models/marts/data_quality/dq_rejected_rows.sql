-- Every rejected raw row of every CIS export, with its key, all its reasons
-- and its raw values, so an operator can fix the export. Exact duplicates of
-- a rejected row appear once (raw_copies counts them).
{%- set exports = cis_export_names() %}
{% for name in exports %}
select
    cast('{{ name }}' as {{ dbt.type_string() }}) as source_file,
    cast(source_delivery as {{ dbt.type_string() }}) as source_delivery,
    cast(source_line as {{ dbt.type_int() }}) as source_line,
    staging_row_id as rejected_row_id,
    cast(primary_key_value as {{ dbt.type_string() }}) as primary_key_value,
    cast(reject_reason as {{ dbt.type_string() }}) as reject_reason,
    cast(raw_row as {{ dbt.type_string() }}) as raw_row,
    cast(raw_copies as {{ dbt.type_bigint() }}) as raw_copies
from {{ ref('stg_cis__' ~ name[4:]) }}
where is_rejected
{% if not loop.last %}union all{% endif %}
{%- endfor %}
