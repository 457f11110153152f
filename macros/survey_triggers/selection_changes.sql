{#- The candidate columns int_survey_selection compares with its stored rows
    on a scheduled run: a candidate whose value of any of them differs (or
    that is new, or dropped) puts its account, old and new, among those
    decided again. -#}
{% macro survey_candidate_columns() -%}
    {{ return(['account_id', 'is_known_account', 'event_at', 'event_date', 'trigger_type_rank',
               'send_window_start', 'send_window_end', 'eligibility_reason']) }}
{%- endmacro %}


{#- The triggers fct_survey_triggers writes again on a scheduled run: every
    one whose row can have changed since the table's last run (watermark,
    'YYYY-MM-DD HH:MM:SS'). Read inside the model, where the CTEs `as_of`
    (as_of_end_at) and `handed_off` (the hand-off ledger) are defined. -#}
{% macro survey_triggers_to_write(watermark) %}
    {%- set since = "cast('" ~ watermark ~ "' as " ~ dbt.type_timestamp() ~ ")" %}
    -- decided again by the selection since
    select
        trigger_type,
        trigger_id
    from {{ ref('int_survey_selection') }}
    where loaded_at > {{ since }}
    union
    -- named by surveys staged since (new, re-sent or superseded rows)
    select
        trigger_type,
        trigger_id
    from {{ ref('stg_cis__surveys') }}
    where loaded_at > {{ since }} and trigger_type is not null and trigger_id is not null
    union
    -- stored statuses the as-of date moves (due to expired, or back)
    select
        stored.trigger_type,
        stored.trigger_id
    from {{ this }} as stored
    cross join as_of
    where
        (stored.status = 'due' and stored.send_window_end <= as_of.as_of_end_at)
        or (stored.status = 'expired' and stored.send_window_end > as_of.as_of_end_at)
    union
    -- hand-off batches recorded, changed or withdrawn since
    select
        coalesce(handed_off.trigger_type, stored.trigger_type) as trigger_type,
        coalesce(handed_off.trigger_id, stored.trigger_id) as trigger_id
    from handed_off
    full outer join (
        select
            trigger_type,
            trigger_id,
            handoff_batch_id
        from {{ this }}
        where handoff_batch_id is not null
    ) as stored
        on
            handed_off.trigger_type = stored.trigger_type
            and handed_off.trigger_id = stored.trigger_id
    where handed_off.batch_id is distinct from stored.handoff_batch_id
{% endmacro %}
