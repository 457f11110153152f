{#- `expr` (text) compared and sorted byte-wise, whatever the database's
    collation: the order the contract gives deliveries (by name) and the
    order that breaks ties between keys. DuckDB and Spark compare text
    byte-wise already; PostgreSQL sorts by the database's collation (en-US
    puts '2025-02-01.csv' before "2025-02-01'); ...csv", C the reverse), so
    there the expression carries collate "C". Use it wherever the order of
    text values decides a result: max/min of a name, a `<` between names, the
    tie-breaking keys of row_number(). -#}
{% macro cx_bytewise(expr) -%}
    {{ return(adapter.dispatch('cx_bytewise', 'cx_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__cx_bytewise(expr) -%}
    {{ expr }}
{%- endmacro %}

{% macro postgres__cx_bytewise(expr) -%}
    ({{ expr }}) collate "C"
{%- endmacro %}
