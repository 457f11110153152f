-- One row per delivery (file) of every CIS export staged, with what became
-- of its rows (the counts of mart dq_load_deliveries, which publishes it).
--
-- Incremental (append, then a post-hook retires the recounted deliveries'
-- earlier rows; a table on Spark): a scheduled run counts only the
-- deliveries staging wrote since this table's last run (cx_change_plan over
-- the staged rows' stamps): the new and re-sent ones, and those whose rows a
-- later delivery superseded. Every other delivery keeps its stored counts.
-- Config: folder `intake` in dbt_project.yml.
{%- set plan = cx_delivery_plan() %}
{%- for name in cis_export_names() %}
select
    cast('{{ name }}' as {{ dbt.type_string() }}) as source_file,
    cast(source_delivery as {{ dbt.type_string() }}) as source_delivery,
    cast(delivery_fingerprint as {{ dbt.type_string() }}) as delivery_fingerprint,
    cast(sum(raw_copies) as {{ dbt.type_bigint() }}) as raw_rows,
    cast(sum(case when is_in_force then 1 else 0 end) as {{ dbt.type_bigint() }}) as kept_rows,
    cast(sum(raw_copies - 1) as {{ dbt.type_bigint() }}) as duplicate_rows,
    cast(sum(case when is_rejected then 1 else 0 end) as {{ dbt.type_bigint() }}) as rejected_rows,
    cast(sum(case when source_line is not null then 1 else 0 end) as {{ dbt.type_bigint() }}) as malformed_rows,
    cast(sum(case when is_superseded then 1 else 0 end) as {{ dbt.type_bigint() }}) as superseded_rows,
    {{ cx_loaded_at() }} as loaded_at
from {{ ref('stg_cis__' ~ name[4:]) }}
{{- cx_delivery_rows_filter(plan) }}
group by source_delivery, delivery_fingerprint
{% if not loop.last %}union all{% endif %}
{%- endfor %}
