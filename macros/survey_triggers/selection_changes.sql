{#- The candidate columns int_survey_selection compares with its stored rows
    on a scheduled run: a candidate whose value of any of them differs (or
    that is new, or dropped) puts its account, old and new, among those
    decided again. -#}
{% macro survey_candidate_columns() -%}
    {{ return(['account_id', 'is_known_account', 'event_at', 'event_date', 'trigger_type_rank',
               'send_window_start', 'send_window_end', 'eligibility_reason']) }}
{%- endmacro %}


{#- Post-hook of int_survey_selection: a stored trigger that is no longer a
    candidate (its event superseded away, a contact no longer assisted)
    leaves the selection. The triggers decided again replace their rows
    through the unique key. -#}
{% macro survey_selection_retire_dropped() %}
    {%- if execute and is_incremental() %}
        delete from {{ this }} as stored
        where not exists (
            select 1
            from {{ ref('int_survey_candidates') }} as kept
            where
                kept.trigger_type = stored.trigger_type
                and kept.trigger_id = stored.trigger_id
        )
    {%- endif %}
{% endmacro %}
