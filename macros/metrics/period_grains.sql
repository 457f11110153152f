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

{#- int_metric_daily rows summed to every period grain: a select of
    (period_grain, period_start, metric_name, segment_type, segment_value,
    `keys`..., numerator, numerator_sq, denominator), for the metrics named in
    `metrics` (all when empty). Needs CTEs `calendar` (int_calendar_days) and
    `period_grains` in scope. -#}
{% macro sum_daily_to_periods(keys=[], metrics=[]) -%}
    select
        daily.metric_name,
        period_grains.period_grain,
        {{ period_start_of('period_grains.period_grain', 'calendar') }} as period_start,
        daily.segment_type,
        daily.segment_value,
        {%- for key in keys %}
        daily.{{ key }},
        {%- endfor %}
        sum(daily.numerator) as numerator,
        sum(daily.numerator_sq) as numerator_sq,
        sum(daily.denominator) as denominator
    from {{ ref('int_metric_daily') }} as daily
    inner join calendar on daily.reference_date = calendar.calendar_date
    cross join period_grains
    {%- if metrics | length > 0 %}
    where daily.metric_name in ({% for m in metrics %}'{{ m }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif %}
    group by
        daily.metric_name,
        period_grains.period_grain,
        {{ period_start_of('period_grains.period_grain', 'calendar') }},
        daily.segment_type,
        {%- for key in keys %}
        daily.{{ key }},
        {%- endfor %}
        daily.segment_value
{%- endmacro %}
