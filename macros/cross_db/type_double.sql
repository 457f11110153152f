{#- 8-byte floating point (dbt.type_float() is 4 bytes on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}

{#- The text type a contract's `data_type: varchar` column has on every engine.
    dbt.type_string() is `text` on PostgreSQL, which an incremental run's
    schema check tells apart from the contract's `character varying`. -#}
{% macro type_varchar() -%}
    {{ return(adapter.dispatch('type_varchar', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__type_varchar() -%}varchar{%- endmacro %}

{% macro spark__type_varchar() -%}string{%- endmacro %}
