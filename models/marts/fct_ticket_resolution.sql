-- Dispute (ticket) resolution per month of the ticket's first contact and
-- the first contact's reason: tickets, resolved tickets (a contact of the
-- ticket is resolved), those whose earliest resolved contact ended within
-- N days (var fast_resolution_days, 7) of the first contact's start, and the
-- median and 90th percentile hours to resolution over resolved tickets
-- (linear interpolation). Tickets as for FCR: every first-contact channel.
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

tickets as (
    select
        tickets.ticket_id,
        calendar.month_start,
        tickets.first_contact_reason_code as contact_reason,
        tickets.is_resolved,
        tickets.is_resolved_within_fast_window,
        tickets.hours_to_resolution
    from {{ ref('int_tickets') }} as tickets
    inner join {{ ref('int_calendar_days') }} as calendar on tickets.first_contact_date = calendar.calendar_date
    cross join reporting_window
    where tickets.first_contact_date between reporting_window.window_start_date and reporting_window.as_of_date
),

by_month as (
    select
        month_start,
        contact_reason,
        count(*) as tickets,
        sum(case when is_resolved then 1 else 0 end) as resolved_tickets,
        sum(case when is_resolved_within_fast_window then 1 else 0 end) as resolved_within_7d,
        {{ quantile_cont('hours_to_resolution', 0.5) }} as median_hours_to_resolution,
        {{ quantile_cont('hours_to_resolution', 0.9) }} as p90_hours_to_resolution
    from tickets
    group by month_start, contact_reason
)

select
    cast(month_start as date) as month_start,
    cast(contact_reason as {{ dbt.type_string() }}) as contact_reason,
    cast(tickets as {{ dbt.type_bigint() }}) as tickets,
    cast(resolved_tickets as {{ dbt.type_bigint() }}) as resolved_tickets,
    cast(resolved_within_7d as {{ dbt.type_bigint() }}) as resolved_within_7d,
    cast(median_hours_to_resolution as {{ type_double() }}) as median_hours_to_resolution,
    cast(p90_hours_to_resolution as {{ type_double() }}) as p90_hours_to_resolution
from by_month
