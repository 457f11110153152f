{#- One row per day (column date_day) from start_expr to end_expr inclusive,
    built from a cross join of digits (up to 100,000 days), so nothing has to be
    queried at compile time. Both arguments are SQL expressions of type date. -#}
{% macro day_spine(start_expr, end_expr) -%}
    with digits as (
        {% for d in range(10) %}select {{ d }} as d{% if not loop.last %} union all {% endif %}{% endfor %}
    ),

    offsets as (
        select d1.d + 10 * d2.d + 100 * d3.d + 1000 * d4.d + 10000 * d5.d as day_offset
        from digits as d1
        cross join digits as d2
        cross join digits as d3
        cross join digits as d4
        cross join digits as d5
    ),

    bounds as (
        select {{ start_expr }} as start_date, {{ end_expr }} as end_date
    )

    select cast({{ dbt.dateadd('day', 'offsets.day_offset', 'bounds.start_date') }} as date) as date_day
    from offsets
    cross join bounds
    where offsets.day_offset <= {{ dbt.datediff('bounds.start_date', 'bounds.end_date', 'day') }}
{%- endmacro %}
