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

{% macro postgres__row_json(columns, values) -%}
    cast(json_build_object({% for c in columns %}'{{ c }}', {{ values[loop.index0] }}{{ ", " if not loop.last }}{% endfor %}) as {{ dbt.type_string() }})
{%- endmacro %}

{#- Spark's to_json drops null fields unless told not to -#}
{% macro spark__row_json(columns, values) -%}
    to_json(named_struct({% for c in columns %}'{{ c }}', {{ values[loop.index0] }}{{ ", " if not loop.last }}{% endfor %}), map('ignoreNullFields', 'false'))
{%- endmacro %}
