{#- A value as the body of a SQL string literal (quotes escaped as the engine wants). -#}
{% macro cx_escape_string(value) -%}
    {{ return(adapter.dispatch('cx_escape_string', 'cx_warehouse')(value)) }}
{%- endmacro %}

{% macro default__cx_escape_string(value) -%}
    {{ value | replace("'", "''") }}
{%- endmacro %}
