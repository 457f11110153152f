-- One row per survey candidate with its send window, status, suppression
-- reason, matching survey and the hand-off batch that held it (spec:
-- survey-triggers.md).
--
-- Incremental (delete+insert by trigger; a table on Spark; docs/incremental.md):
-- a scheduled run writes again only the triggers whose row can have changed
-- since this table's last run (survey_triggers_to_write): those the
-- selection decided again, those of surveys staged since, those whose status
-- the as-of date moves between due and expired, and those whose hand-off
-- batch changed. A post-hook removes triggers no longer selected or
-- suppressed. loaded_at stays in the working state: the publish leaves it out.
{{ config(**cx_incremental_config(
    'delete+insert', unique_key=['trigger_type', 'trigger_id'],
    post_hook="{{ cx_retire_dropped(ref('int_survey_selection'), ['trigger_type', 'trigger_id']) }}")) }}
{%- set plan = cx_change_plan(none, none) %}

with as_of as (
    -- the end of the as-of date: midnight that starts the next day
    select {{ dbt.dateadd('day', 1, 'cast(as_of_date as ' ~ dbt.type_timestamp() ~ ')') }} as as_of_end_at
    from {{ ref('int_reporting_window') }}
),

handed_off as (
    select * from {{ ref('stg_handoff__handed_off') }}
),

selection as (
    select selection.*
    from {{ ref('int_survey_selection') }} as selection
    {%- if plan %}
    inner join ({{ survey_triggers_to_write(plan.watermark) }}) as to_write
        on
            selection.trigger_type = to_write.trigger_type
            and selection.trigger_id = to_write.trigger_id
    {%- endif %}
),

surveys as (
    -- kept surveys; when several match one candidate the earliest sent_at
    -- (then the smallest survey_id) is the match
    select
        survey_id,
        trigger_type,
        trigger_id,
        row_number() over (
            partition by trigger_type, trigger_id
            order by sent_at, {{ cx_bytewise('survey_id') }}
        ) as match_rank
    from {{ ref('stg_cis__surveys') }}
    where is_in_force
)

select
    cast(selection.trigger_type as {{ type_varchar() }}) as trigger_type,
    cast(selection.trigger_id as {{ type_varchar() }}) as trigger_id,
    cast(selection.account_id as {{ type_varchar() }}) as account_id,
    cast(selection.event_at as {{ dbt.type_timestamp() }}) as event_at,
    cast(selection.send_window_start as {{ dbt.type_timestamp() }}) as send_window_start,
    cast(selection.send_window_end as {{ dbt.type_timestamp() }}) as send_window_end,
    cast(case
        when selection.suppression_reason is not null then 'suppressed'
        when surveys.survey_id is not null then 'sent'
        when selection.send_window_end > as_of.as_of_end_at then 'due'
        else 'expired'
    end as {{ type_varchar() }}) as status,
    cast(selection.suppression_reason as {{ type_varchar() }}) as suppression_reason,
    cast(surveys.survey_id as {{ type_varchar() }}) as survey_id,
    cast(handed_off.batch_id as {{ type_varchar() }}) as handoff_batch_id,
    {{ cx_loaded_at() }} as loaded_at
from selection
cross join as_of
left join surveys
    on
        selection.trigger_type = surveys.trigger_type
        and selection.trigger_id = surveys.trigger_id
        and surveys.match_rank = 1
left join handed_off
    on
        selection.trigger_type = handed_off.trigger_type
        and selection.trigger_id = handed_off.trigger_id
