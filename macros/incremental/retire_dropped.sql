{#- Post-hook of an incremental model kept by key (delete+insert) whose rows
    follow another relation's keys one to one (int_survey_selection follows
    int_survey_candidates, fct_survey_triggers follows int_survey_selection):
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
