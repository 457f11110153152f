{#- The continuous quantile `q` (0..1, linear interpolation between the two
    nearest values) of `expr` over a group, nulls ignored; null when the
    group has no value. An aggregate: use it beside a group by. -#}
{% macro quantile_cont(expr, q) -%}
    {{ return(adapter.dispatch('quantile_cont', 'cx_warehouse')(expr, q)) }}
{%- endmacro %}

{% macro default__quantile_cont(expr, q) -%}
    percentile_cont({{ q }}) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__quantile_cont(expr, q) -%}
    quantile_cont({{ expr }}, {{ q }})
{%- endmacro %}

{% macro spark__quantile_cont(expr, q) -%}
    percentile({{ expr }}, {{ q }})
{%- endmacro %}

{#- Hours from timestamp `start` to timestamp `end`, fractional (a double:
    Spark would divide by the literal 3600.0 as a decimal, to 6 places). -#}
{% macro hours_between(start, end) -%}
    ({{ dbt.datediff(start, end, 'second') }} / cast(3600 as {{ type_double() }}))
{%- endmacro %}
