-- Survey outcomes per trigger type and month of the event (spec:
-- survey-triggers.md, "Outcome link"), from the published candidates and the
-- survey each one matched.
with triggers as (
    select * from {{ ref('fct_survey_triggers') }}
),

surveys as (
    select
        survey_id,
        sent_at,
        responded_at,
        score
    from {{ ref('stg_cis__surveys') }}
    where is_in_force
),

linked as (
    select
        triggers.trigger_type,
        cast({{ dbt.date_trunc('month', 'triggers.event_at') }} as date) as month_start,
        triggers.status,
        triggers.handoff_batch_id is not null as is_handed_off,
        surveys.survey_id,
        (
            surveys.sent_at >= triggers.send_window_start
            and surveys.sent_at <= triggers.send_window_end
        ) as is_sent_in_window,
        (surveys.responded_at is not null and surveys.score is not null) as is_response
    from triggers
    left join surveys on triggers.survey_id = surveys.survey_id
),

counted as (
    select
        trigger_type,
        month_start,
        count(*) as candidates,
        count(case when status <> 'suppressed' then 1 end) as selected,
        count(survey_id) as surveys_sent,
        count(case when is_sent_in_window then 1 end) as sent_in_window,
        count(case when is_response then 1 end) as responses,
        count(case when is_handed_off then 1 end) as handed_off,
        count(case when is_handed_off and is_response then 1 end) as handed_off_responses
    from linked
    group by trigger_type, month_start
)

select
    cast(trigger_type as {{ dbt.type_string() }}) as trigger_type,
    cast(month_start as date) as month_start,
    cast(candidates as {{ dbt.type_bigint() }}) as candidates,
    cast(selected as {{ dbt.type_bigint() }}) as selected,
    cast(surveys_sent as {{ dbt.type_bigint() }}) as surveys_sent,
    cast(sent_in_window as {{ dbt.type_bigint() }}) as sent_in_window,
    cast(responses as {{ dbt.type_bigint() }}) as responses,
    cast(case when surveys_sent > 0 then 1.0 * responses / surveys_sent end as {{ type_double() }}) as response_rate,
    cast(handed_off as {{ dbt.type_bigint() }}) as handed_off,
    cast(handed_off_responses as {{ dbt.type_bigint() }}) as handed_off_responses
from counted
