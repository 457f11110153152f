{#- A value as the body of a SQL string literal (quotes escaped as the engine wants). -#}
{% macro cx_escape_string(value) -%}
    {{ return(adapter.dispatch('cx_escape_string', 'cx_warehouse')(value)) }}
{%- endmacro %}

{% macro default__cx_escape_string(value) -%}
    {{ value | replace("'", "''") }}
{%- endmacro %}

{#- Values as a comma-separated list of SQL string literals, each escaped:
    file paths and delivery names reach SQL only this way (or as bound
    parameters in Python), whatever characters they hold. -#}
{% macro cx_string_literals(values) -%}
    {%- for v in values -%}'{{ cx_escape_string(v | string) }}'{{ ", " if not loop.last }}{%- endfor -%}
{%- endmacro %}
