{#- A JSON object (as text) keyed by column name, valued by column `prefix ~ name`. -#}
{% macro row_json(columns, prefix='') -%}
    {{ return(adapter.dispatch('row_json', 'cx_warehouse')(columns, prefix)) }}
{%- endmacro %}

{% macro duckdb__row_json(columns, prefix) -%}
    cast(json_object({% for c in columns %}'{{ c }}', {{ prefix }}{{ c }}{{ ", " if not loop.last }}{% endfor %}) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro postgres__row_json(columns, prefix) -%}
    cast(json_build_object({% for c in columns %}'{{ c }}', {{ prefix }}{{ c }}{{ ", " if not loop.last }}{% endfor %}) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__row_json(columns, prefix) -%}
    to_json(named_struct({% for c in columns %}'{{ c }}', {{ prefix }}{{ c }}{{ ", " if not loop.last }}{% endfor %}))
{%- endmacro %}
