-- One row per delivery (file) of every CIS export the warehouse holds, with
-- what became of its rows: raw = kept (in force) + duplicates + rejected
-- + superseded (replaced by a later delivery of the same key).
{%- set exports = cis_export_names() %}
{% for name in exports %}
select
    cast('{{ name }}' as {{ dbt.type_string() }}) as source_file,
    cast(source_delivery as {{ dbt.type_string() }}) as source_delivery,
    cast(delivery_fingerprint as {{ dbt.type_string() }}) as delivery_fingerprint,
    cast(sum(raw_copies) as {{ dbt.type_bigint() }}) as raw_rows,
    cast(sum(case when is_in_force then 1 else 0 end) as {{ dbt.type_bigint() }}) as kept_rows,
    cast(sum(raw_copies - 1) as {{ dbt.type_bigint() }}) as duplicate_rows,
    cast(sum(case when is_rejected then 1 else 0 end) as {{ dbt.type_bigint() }}) as rejected_rows,
    cast(sum(case when source_line is not null then 1 else 0 end) as {{ dbt.type_bigint() }}) as malformed_rows,
    cast(sum(case when is_superseded then 1 else 0 end) as {{ dbt.type_bigint() }}) as superseded_rows
from {{ ref('stg_cis__' ~ name[4:]) }}
group by source_delivery, delivery_fingerprint
{% if not loop.last %}union all{% endif %}
{%- endfor %}
