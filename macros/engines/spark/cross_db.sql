{#- Spark versions of macros/cross_db macros that are new with the Spark port. -#}

{% macro spark__cx_string_agg_sorted(expr, sep) -%}
    case when count({{ expr }}) > 0 then array_join(array_sort(collect_list({{ expr }})), {{ sep }}) end
{%- endmacro %}

{#- DuckDB's date_diff (and dbt-duckdb's datediff) counts the boundaries of
    the part crossed between the two values. dbt-spark's datediff does not
    always: by months_between, 2024-01-31 to 2024-02-29 (both month ends) is
    2 months, and hours are rounded differences. Boundaries here, on UTC
    (the session time zone). -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'day' -%}
    datediff(to_date({{ second_date }}), to_date({{ first_date }}))
    {%- elif datepart == 'week' -%}
    cast(floor(datediff(date_trunc('week', {{ second_date }}), date_trunc('week', {{ first_date }})) / 7) as bigint)
    {%- elif datepart == 'month' -%}
    ((year({{ second_date }}) * 12 + month({{ second_date }})) - (year({{ first_date }}) * 12 + month({{ first_date }})))
    {%- elif datepart == 'quarter' -%}
    ((year({{ second_date }}) * 4 + quarter({{ second_date }})) - (year({{ first_date }}) * 4 + quarter({{ first_date }})))
    {%- elif datepart == 'year' -%}
    (year({{ second_date }}) - year({{ first_date }}))
    {%- elif datepart in ('hour', 'minute', 'second') -%}
    {%- set unit = {'hour': 3600, 'minute': 60, 'second': 1}[datepart] -%}
    (floor(unix_timestamp(cast({{ second_date }} as timestamp)) / {{ unit }}) - floor(unix_timestamp(cast({{ first_date }} as timestamp)) / {{ unit }}))
    {%- else -%}
    {{ exceptions.raise_compiler_error("datediff: part " ~ datepart ~ " not implemented on Spark") }}
    {%- endif -%}
{%- endmacro %}
