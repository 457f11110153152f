{#- Post-hook of an incremental model kept by key (delete+insert) whose rows
    follow another relation's keys one to one (int_survey_selection follows
    int_survey_candidates, fct_survey_triggers int_survey_selection,
    fct_metric_records int_metric_records, int_ami_bill_usage int_bills):
    a stored row whose key is no longer in `kept` is deleted. The rows the run
    wrote replace theirs through the unique key. Renders nothing on a full
    build. -#}
{% macro cx_retire_dropped(kept, keys) %}
    {%- if execute and is_incremental() %}
        delete from {{ this }} as stored
        where not exists (
            select 1
            from {{ kept }} as kept
            where
                {%- for key in keys %}
                kept.{{ key }} = stored.{{ key }}{{ " and" if not loop.last }}
                {%- endfor %}
        )
    {%- endif %}
{% endmacro %}


{#- The condition under which a computed row must be written again by a
    model that diffs its input against its own stored rows (left-joined as
    `stored` by key; int_survey_selection, int_metric_records,
    int_ami_bill_usage): no stored row (`stored`.`key` is null), or any of
    `columns` differs (`is distinct from`, so null = null). -#}
{% macro cx_row_differs(computed, stored, key, columns) -%}
    {{ stored }}.{{ key }} is null
    {%- for column in columns %}
    or {{ computed }}.{{ column }} is distinct from {{ stored }}.{{ column }}
    {%- endfor %}
{%- endmacro %}


{#- The config() of a model kept incrementally with deletes (by key, or with
    a post-hook that retires rows; the intake folder's two models take the
    same settings in dbt_project.yml, which cannot call a macro): incremental on
    DuckDB and PostgreSQL, a table on Spark, where only append and partition
    overwrite exist without Delta (docs/incremental.md, "Engines"); a change
    of columns fails the run rather than leave stored rows of another shape.
    Called as {{ config(**cx_incremental_config('append', post_hook=...)) }};
    a model that deletes what it replaces before it inserts passes pre_hook. -#}
{% macro cx_incremental_config(strategy, post_hook=none, unique_key=none, pre_hook=none) -%}
    {%- set settings = {
        'materialized': 'table' if target.type == 'spark' else 'incremental',
        'incremental_strategy': strategy,
        'on_schema_change': 'fail',
        'post_hook': post_hook,
    } %}
    {%- if unique_key is not none %}{% do settings.update({'unique_key': unique_key}) %}{% endif %}
    {%- if pre_hook is not none %}{% do settings.update({'pre_hook': pre_hook}) %}{% endif %}
    {%- if post_hook is none %}{% do settings.pop('post_hook') %}{% endif %}
    {{ return(settings) }}
{%- endmacro %}
