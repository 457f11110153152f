-- What first-contact resolution is worth in satisfaction: CSAT of the
-- surveys sent about a contact, by what happened to that contact's ticket and
-- by the contact's reason, per month of the response. The responses are
-- exactly csat's (score 1..5, response date in the reporting window).
--   first_contact_resolved      the ticket counts in FCR's numerator
--   not_first_contact_resolved  in FCR's denominator, not its numerator
--                               (first contact unresolved, or recontacted
--                               inside the window)
--   not_in_fcr                  a ticket whose first contact was not
--                               assisted (IVR)
--   no_ticket                   the contact has no ticket_id
-- A survey whose trigger names no kept contact is left out (nothing is known
-- of what happened); the orphan-reference test on surveys reports it.
with responses as (
    select
        records.record_id as survey_id,
        records.reference_date,
        records.numerator
    from {{ ref('int_metric_records') }} as records
    where records.metric_name = 'csat' and records.trigger_type = 'contact'
),

surveyed as (
    select
        responses.reference_date,
        responses.numerator,
        contacts.reason_code as contact_reason,
        case
            when contacts.ticket_id is null then 'no_ticket'
            when not tickets.is_fcr_eligible then 'not_in_fcr'
            when tickets.is_first_contact_resolved then 'first_contact_resolved'
            else 'not_first_contact_resolved'
        end as ticket_outcome
    from responses
    inner join {{ ref('stg_cis__surveys') }} as surveys
        on responses.survey_id = surveys.survey_id and surveys.is_in_force
    inner join {{ ref('int_contacts') }} as contacts on surveys.trigger_id = contacts.contact_id
    left join {{ ref('int_tickets') }} as tickets on contacts.ticket_id = tickets.ticket_id
),

by_month as (
    select
        surveyed.ticket_outcome,
        surveyed.contact_reason,
        calendar.month_start as period_start,
        sum(surveyed.numerator) as numerator,
        count(*) as denominator
    from surveyed
    inner join {{ ref('int_calendar_days') }} as calendar on surveyed.reference_date = calendar.calendar_date
    group by surveyed.ticket_outcome, surveyed.contact_reason, calendar.month_start
)

select
    cast(ticket_outcome as {{ dbt.type_string() }}) as ticket_outcome,
    cast(contact_reason as {{ dbt.type_string() }}) as contact_reason,
    cast(period_start as date) as period_start,
    cast(numerator as {{ type_double() }}) as numerator,
    cast(denominator as {{ dbt.type_bigint() }}) as denominator,
    cast(1.0 * numerator / denominator as {{ type_double() }}) as csat
from by_month
