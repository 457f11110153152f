{#- The start of the period of grain `grain` (day, week, month) holding a
    calendar row `calendar` (int_calendar_days). -#}
{% macro period_start_of(grain, calendar) -%}
    case {{ grain }}
        when 'day' then {{ calendar }}.calendar_date
        when 'week' then {{ calendar }}.week_start
        else {{ calendar }}.month_start
    end
{%- endmacro %}
