-- One row per survey candidate event (spec: survey-triggers.md), with its
-- event time, send window and the first eligibility reason that suppresses it
-- (unknown_account, inactive_account, no_email, opted_out). Cooldown is decided later,
-- in int_survey_selection, among the candidates that pass these checks.
--   bill          every kept bill              bill_date at 00:00
--   payment       every kept payment           paid_at
--   service_order kept orders, status completed completed_at
--   contact       assisted contacts, not abandoned
--                                               started_at + talk + hold + wrap seconds (empty = 0)
--
-- Incremental (append after a delete; a table on Spark; docs/incremental.md):
-- a scheduled run computes again only the candidates whose source rows were
-- written since the model's last run (survey_candidates_plan): the payments
-- and service orders staged since, the bills when int_bills was built again,
-- every contact (int_contacts carries no stamp). The pre-hook first deletes
-- the stored rows of those ids and of ids no longer staged at all. When the
-- accounts were built again, or the settings or code changed, every
-- candidate is computed again.
{{ config(**cx_incremental_config('append', pre_hook="{{ survey_candidates_delete_recomputed() }}")) }}
{%- set plan = survey_candidates_plan() %}
{%- set window_start_hours = var('survey_window_start_hours', 24) %}
{%- set window_end_hours = var('survey_window_end_hours', 48) %}

with bill_events as (
    select
        'bill' as trigger_type,
        bill_id as trigger_id,
        account_id,
        cast(bill_date as {{ dbt.type_timestamp() }}) as event_at
    from {{ ref('int_bills') }}
    where {{ survey_candidates_filter(plan, 'bill', 'bill_id') }}
),

payment_events as (
    select
        'payment' as trigger_type,
        payment_id as trigger_id,
        account_id,
        paid_at as event_at
    from {{ ref('stg_cis__payments') }}
    where is_in_force and {{ survey_candidates_filter(plan, 'payment', 'payment_id') }}
),

service_order_events as (
    -- completed_at is set iff completed (contract); an order flagged completed
    -- without completed_at has no event time and is not a candidate.
    select
        'service_order' as trigger_type,
        service_order_id as trigger_id,
        account_id,
        completed_at as event_at
    from {{ ref('stg_cis__service_orders') }}
    where
        is_in_force
        and status = 'completed'
        and completed_at is not null
        and {{ survey_candidates_filter(plan, 'service_order', 'service_order_id') }}
),

contact_events as (
    -- the attributed account (account unification), null when unknown
    select
        'contact' as trigger_type,
        contact_id as trigger_id,
        account_id,
        {{ dbt.dateadd('second', 'handle_seconds', 'started_at') }} as event_at
    from {{ ref('int_contacts') }}
    where is_assisted_contact
),

events as (
    select * from bill_events
    union all
    select * from payment_events
    union all
    select * from service_order_events
    union all
    select * from contact_events
),

accounts as (
    select
        account_id,
        opened_date,
        closed_date,
        has_email,
        is_survey_opted_out
    from {{ ref('int_accounts') }}
),

dated as (
    select
        events.trigger_type,
        events.trigger_id,
        events.account_id,
        cast(events.event_at as {{ dbt.type_timestamp() }}) as event_at,
        cast(events.event_at as date) as event_date,
        case events.trigger_type
            when 'contact' then 1
            when 'service_order' then 2
            when 'payment' then 3
            when 'bill' then 4
        end as trigger_type_rank,
        accounts.account_id is not null as is_known_account,
        accounts.opened_date,
        accounts.closed_date,
        coalesce(accounts.has_email, false) as has_email,
        coalesce(accounts.is_survey_opted_out, false) as is_survey_opted_out
    from events
    left join accounts on events.account_id = accounts.account_id
)

select
    trigger_type,
    trigger_id,
    account_id,
    is_known_account,
    event_at,
    event_date,
    trigger_type_rank,
    {{ dbt.dateadd('hour', window_start_hours, 'event_at') }} as send_window_start,
    {{ dbt.dateadd('hour', window_end_hours, 'event_at') }} as send_window_end,
    case
        when not is_known_account then 'unknown_account'
        when not (opened_date <= event_date and (closed_date is null or event_date < closed_date)) then 'inactive_account'
        when not has_email then 'no_email'
        when is_survey_opted_out then 'opted_out'
    end as eligibility_reason,
    {{ cx_loaded_at() }} as loaded_at
from dated
