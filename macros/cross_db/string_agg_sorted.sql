{#- The values of `expr` over a group joined by `sep` (a SQL string), in
    ascending order; null when the group has no value. An aggregate. -#}
{% macro cx_string_agg_sorted(expr, sep) -%}
    {{ return(adapter.dispatch('cx_string_agg_sorted', 'cx_warehouse')(expr, sep)) }}
{%- endmacro %}

{% macro default__cx_string_agg_sorted(expr, sep) -%}
    string_agg({{ expr }}, {{ sep }} order by {{ cx_bytewise(expr) }})
{%- endmacro %}
