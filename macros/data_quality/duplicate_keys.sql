{#- The keys of `model` held by more than one row, with their row count:
    first the 64-bit hashes held more than once (a narrow aggregate), then an
    exact group by over the rows whose hash is among them. `skip_nulls`
    ignores rows with a null in the key (dbt's `unique` semantics). -#}
{% macro cx_duplicate_keys(model, columns, skip_nulls=false) -%}
with keyed as {{ cte_not_materialized() }} (
    select
        {{ columns | join(', ') }},
        {{ row_hash(columns) }} as key_hash
    from {{ model }}
    {%- if skip_nulls %}
    where {% for c in columns %}{{ c }} is not null{{ " and " if not loop.last }}{% endfor %}
    {%- endif %}
),

shared_hashes as (
    select key_hash
    from keyed
    group by key_hash
    having count(*) > 1
)

select
    {{ columns | join(', ') }},
    count(*) as rows_sharing_key
from keyed
where key_hash in (select key_hash from shared_hashes)
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endmacro %}
