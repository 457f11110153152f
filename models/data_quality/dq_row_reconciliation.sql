-- Per CIS export: raw rows = kept rows + exact duplicates dropped + rejected rows.
{%- set exports = cis_export_names() %}
{% for name in exports %}
select
    cast('{{ name }}' as {{ dbt.type_string() }}) as source_file,
    cast(sum(raw_copies) as {{ dbt.type_bigint() }}) as raw_rows,
    cast(sum(case when not is_rejected then 1 else 0 end) as {{ dbt.type_bigint() }}) as kept_rows,
    cast(sum(raw_copies - 1) as {{ dbt.type_bigint() }}) as duplicate_rows,
    cast(sum(case when is_rejected then 1 else 0 end) as {{ dbt.type_bigint() }}) as rejected_rows
from {{ ref('stg_cis__' ~ name[4:]) }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
