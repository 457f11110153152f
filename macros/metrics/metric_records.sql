{#- The columns of a metric record besides its key (metric_name, record_id),
    in the model's order: a scheduled run of int_metric_records writes a
    record again when any of them differs from the stored row. -#}
{% macro metric_record_columns() -%}
    {{ return(['reference_date', 'account_id', 'contact_reason', 'channel', 'trigger_type', 'numerator',
               'denominator', 'account_class', 'rate_code', 'service_area', 'age_band']) }}
{%- endmacro %}


{#- Post-hook of int_metric_records: the tombstones the run wrote (records no
    longer computed, which replaced their stored rows) are deleted, so the
    table holds the computed records only. -#}
{% macro metric_records_delete_tombstones() %}
    {%- if execute and is_incremental() %}
        delete from {{ this }} where is_dropped
    {%- endif %}
{% endmacro %}


{#- The days int_metric_daily recomputes on a scheduled run, as a list of
    'YYYY-MM-DD', or none for every day (a full build, nothing stored):
    the reference dates of the records int_metric_records wrote since the
    table's last run (cx_change_plan's watermark), and the days whose count of
    records per metric differs from the stored one (segment `all` counts each
    record once): a record dropped, or moved to another day, leaves no written
    row on the day it left. Called by the model and its post-hook. -#}
{% macro metric_daily_days_to_compute() %}
    {%- set plan = cx_change_plan(none, none) %}
    {%- if plan is none %}{{ return(none) }}{% endif %}
    {%- set records = ref('int_metric_records') %}
    {%- set days_sql %}
        select {{ dbt.cast('reference_date', dbt.type_string()) }} as reference_day
        from {{ records }}
        where loaded_at > cast('{{ plan.watermark }}' as {{ dbt.type_timestamp() }})
        union
        select {{ dbt.cast('coalesce(computed.reference_date, stored.reference_date)', dbt.type_string()) }} as reference_day
        from (
            select
                metric_name,
                reference_date,
                count(*) as record_count
            from {{ records }}
            group by metric_name, reference_date
        ) as computed
        full outer join (
            select
                metric_name,
                reference_date,
                sum(record_count) as record_count
            from {{ this }}
            where segment_type = 'all'
            group by metric_name, reference_date
        ) as stored
            on
                computed.metric_name = stored.metric_name
                and computed.reference_date = stored.reference_date
        where computed.record_count is distinct from stored.record_count
    {%- endset %}
    {%- set days = [] %}
    {%- for day in run_query(days_sql).columns[0].values() %}
        {%- do days.append(day[:10]) %}
    {%- endfor %}
    {{ return(days | sort) }}
{% endmacro %}


{#- `column` is one of `days` ('YYYY-MM-DD' texts); false for no day. -#}
{% macro metric_days_condition(column, days) -%}
    {%- if days | length == 0 -%}
    1 = 0
    {%- else -%}
    {{ column }} in (
        {%- for day in days %}cast('{{ day }}' as date){{ ", " if not loop.last }}{% endfor -%}
    )
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of int_metric_daily: the older rows of the days it listed (at
    this point only days left with no record of a metric still differ) are
    deleted; the days it recomputed were replaced whole by the unique key. -#}
{% macro metric_daily_retire_emptied_days() %}
    {%- if execute and is_incremental() %}
        {%- set days = metric_daily_days_to_compute() %}
        {%- if days is not none and days | length > 0 %}
        delete from {{ this }}
        where
            loaded_at < {{ cx_loaded_at() }}
            and {{ metric_days_condition('reference_date', days) }}
        {%- endif %}
    {%- endif %}
{% endmacro %}
