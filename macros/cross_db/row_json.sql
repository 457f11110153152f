{#- A JSON object (as text) keyed by column name, valued by column `prefix ~ name`;
    columns listed in `masked` show '<personal data>' instead of their value. -#}
{% macro row_json(columns, prefix='', masked=[]) -%}
    {%- set values = [] -%}
    {%- for c in columns -%}
        {%- if c in masked -%}
            {%- do values.append("case when " ~ prefix ~ c ~ " is not null then '<personal data>' end") -%}
        {%- else -%}
            {%- do values.append(prefix ~ c) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(adapter.dispatch('row_json', 'cx_warehouse')(columns, values)) }}
{%- endmacro %}

{% macro duckdb__row_json(columns, values) -%}
    cast(json_object({% for c in columns %}'{{ c }}', {{ values[loop.index0] }}{{ ", " if not loop.last }}{% endfor %}) as {{ dbt.type_string() }})
{%- endmacro %}

{#- compact, keys in column order, as DuckDB's json_object writes it (json_build_object
    adds spaces); a NUL byte, loaded as U+FFFF (cx_warehouse/engines/postgres.py), as \u0000 -#}
{% macro postgres__row_json(columns, values) -%}
    replace('{' || {% for c in columns %}'{{ '"' ~ c ~ '":' if loop.first else ',"' ~ c ~ '":' }}' || coalesce(cast(to_json(cast({{ values[loop.index0] }} as text)) as text), 'null'){{ " || " if not loop.last }}{% endfor %} || '}', chr(65535), '\u0000')
{%- endmacro %}

{#- Spark's to_json drops null fields unless told not to -#}
{% macro spark__row_json(columns, values) -%}
    to_json(named_struct({% for c in columns %}'{{ c }}', {{ values[loop.index0] }}{{ ", " if not loop.last }}{% endfor %}), map('ignoreNullFields', 'false'))
{%- endmacro %}
