{#-
  Stage one CIS export, driven by the contract metadata in
  models/staging/cis/_cis__sources.yml:
    1. collapse exact duplicate rows (raw_copies counts the copies),
    2. type every column strictly (cis_parse),
    3. flag, never drop, every row that breaks a rule, with all its reasons:
       required field empty, value that does not parse, value outside its
       domain, number outside its bounds, conflicting duplicate of the key,
       plus any table-specific rule passed in `extra_rules`
       (a list of {"reason": text, "when": SQL over the typed columns}).
  Output: the typed contract columns, then
    staging_row_id (hash of the raw row; unique), primary_key_value (text,
    composite keys joined with '|'), raw_copies, is_rejected, reject_reason,
    raw_row (the raw values as JSON text, rejected rows only; personal-data
    columns masked so that they never leave staging).
-#}
{% macro stage_cis_export(table_name, extra_rules=[]) %}
{%- set relation = source('cis', table_name) -%}
{%- if execute -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ table_name] -%}
    {%- set columns = node.columns.values() | list -%}
    {%- set pk = node.meta.primary_key -%}
{%- else -%}
    {%- set columns = [] -%}
    {%- set pk = [] -%}
{%- endif -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- set personal = [] -%}
{%- for c in columns if c.meta.get('personal_data') -%}{%- do personal.append(c.name) -%}{%- endfor -%}

with raw_rows as (
    select
        {%- for c in columns %}
        nullif({{ c.name }}, '') as {{ c.name }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }}
),

collapsed as (
    -- exact duplicates: one copy is kept, raw_copies - 1 are counted as duplicates
    select
        {%- for c in columns %}
        {{ c.name }},
        {%- endfor %}
        count(*) as raw_copies
    from raw_rows
    group by {% for c in columns %}{{ c.name }}{{ ", " if not loop.last }}{% endfor %}
),

typed as (
    select
        {%- for c in columns %}
        {{ cis_parse(c.meta.cis_type, c.name) }} as {{ c.name }},
        {%- endfor %}
        {%- for c in columns %}
        {{ c.name }} as raw__{{ c.name }},
        {%- endfor %}
        raw_copies,
        count(*) over (partition by {% for k in pk %}{{ k }}{{ ", " if not loop.last }}{% endfor %}) as rows_sharing_key
    from collapsed
),

checked as (
    select
        *,
        concat_ws('; ',
            {%- for c in columns %}
            {%- set m = c.meta %}
            {%- if m.get('required', true) %}
            case when raw__{{ c.name }} is null then 'missing required value: {{ c.name }}' end,
            {%- endif %}
            {%- if m.cis_type != 'text' %}
            case when raw__{{ c.name }} is not null and {{ c.name }} is null then 'not a valid {{ m.cis_type }}: {{ c.name }}' end,
            {%- endif %}
            {%- if m.get('domain') %}
            case when {{ c.name }} not in ({% for v in m.domain %}'{{ v }}'{{ ", " if not loop.last }}{% endfor %}) then 'outside domain: {{ c.name }}' end,
            {%- endif %}
            {%- if m.get('min') is not none and m.get('min') == 0 %}
            case when {{ c.name }} < 0 then 'negative value: {{ c.name }}' end,
            {%- elif m.get('min') is not none %}
            case when {{ c.name }} < {{ m.min }} then 'below {{ m.min }}: {{ c.name }}' end,
            {%- endif %}
            {%- if m.get('max') is not none %}
            case when {{ c.name }} > {{ m.max }} then 'above {{ m.max }}: {{ c.name }}' end,
            {%- endif %}
            {%- endfor %}
            {%- for rule in extra_rules %}
            case when {{ rule.when }} then '{{ rule.reason }}' end,
            {%- endfor %}
            case when rows_sharing_key > 1 then 'conflicting duplicate of primary key' end
        ) as reasons
    from typed
)

select
    {%- for c in columns %}
    {{ c.name }},
    {%- endfor %}
    {{ dbt.hash(dbt.concat(cis_coalesced_raw(names))) }} as staging_row_id,
    {{ cis_key_text(pk) }} as primary_key_value,
    raw_copies,
    coalesce(reasons, '') <> '' as is_rejected,
    nullif(reasons, '') as reject_reason,
    case when coalesce(reasons, '') <> '' then {{ row_json(names, prefix='raw__', masked=personal) }} end as raw_row
from checked
{% endmacro %}

{#- The raw values as text pieces for hashing; NULL and '' stay distinct. -#}
{% macro cis_coalesced_raw(names) -%}
    {%- set parts = [] -%}
    {%- for n in names -%}
        {%- do parts.append("coalesce('=' || raw__" ~ n ~ ", '~')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ return(parts) }}
{%- endmacro %}

{% macro cis_key_text(pk) -%}
    {%- if pk | length == 1 -%}
    raw__{{ pk[0] }}
    {%- else -%}
    {%- set parts = [] -%}
    {%- for k in pk -%}
        {%- do parts.append("coalesce(raw__" ~ k ~ ", '')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
    {%- endif -%}
{%- endmacro %}
