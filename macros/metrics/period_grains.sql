{#- The three period grains as a relation (one column, period_grain). -#}
{% macro period_grains() -%}
    select 'day' as period_grain
    union all
    select 'week' as period_grain
    union all
    select 'month' as period_grain
{%- endmacro %}

{#- The join condition of a month row `rel` with its row one year earlier
    `prior` (same `keys`, calendar month one year back). -#}
{% macro prior_year_join(rel, prior, keys) -%}
    {{ rel }}.period_grain = 'month'
    and {{ prior }}.period_grain = 'month'
    {%- for key in keys %}
    and {{ rel }}.{{ key }} = {{ prior }}.{{ key }}
    {%- endfor %}
    and {{ prior }}.period_start = cast({{ dbt.dateadd('year', -1, rel ~ '.period_start') }} as date)
{%- endmacro %}
