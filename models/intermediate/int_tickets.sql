-- One row per ticket (contacts sharing a ticket_id). The first contact is the
-- earliest started_at, ties going to the smallest contact_id. A recontact is
-- another contact on the ticket starting in (t, t + N days], where t is the
-- first contact's start and N is var `fcr_recontact_window_days`.
-- Resolution: the earliest contact of the ticket whose status is resolved
-- (same order); it ends at its start plus talk + hold + wrap seconds, and the
-- ticket is resolved fast when that end is at most N days (var
-- `fast_resolution_days`) after the first contact's start.
with contacts as (
    select * from {{ ref('int_contacts') }}
    where ticket_id is not null
),

ranked as (
    select
        *,
        row_number() over (partition by ticket_id order by started_at, {{ cx_bytewise('contact_id') }}) as contact_sequence
    from contacts
),

first_contacts as (
    select * from ranked
    where contact_sequence = 1
),

ticket_stats as (
    select
        first_contacts.ticket_id,
        count(*) as contacts,
        count(case
            when
                others.contact_id <> first_contacts.contact_id
                and others.started_at > first_contacts.started_at
                and others.started_at <= {{ dbt.dateadd('day', var('fcr_recontact_window_days'), 'first_contacts.started_at') }}
                then 1
        end) as recontacts_in_window,
        -- the earliest contact that is attributed to an account, for tickets
        -- whose first contact could not be attributed
        min(case when others.account_id is not null then others.contact_sequence end) as first_attributed_sequence,
        min(case when others.resolution_status = 'resolved' then others.contact_sequence end) as first_resolved_sequence
    from first_contacts
    inner join ranked as others on first_contacts.ticket_id = others.ticket_id
    group by first_contacts.ticket_id
),

resolutions as (
    select
        ticket_stats.ticket_id,
        resolved.contact_id as resolved_contact_id,
        {{ dbt.dateadd('second', 'resolved.handle_seconds', 'resolved.started_at') }} as resolved_contact_ended_at
    from ticket_stats
    inner join ranked as resolved
        on
            ticket_stats.ticket_id = resolved.ticket_id
            and ticket_stats.first_resolved_sequence = resolved.contact_sequence
)

select
    first_contacts.ticket_id,
    first_contacts.contact_id as first_contact_id,
    first_contacts.started_at as first_contact_at,
    first_contacts.started_date as first_contact_date,
    first_contacts.channel as first_contact_channel,
    first_contacts.reason_code as first_contact_reason_code,
    first_contacts.resolution_status as first_contact_resolution_status,
    coalesce(first_contacts.account_id, attributed.account_id) as account_id,
    ticket_stats.contacts,
    ticket_stats.recontacts_in_window,
    first_contacts.is_assisted_channel as is_fcr_eligible,
    first_contacts.is_assisted_channel
    and first_contacts.resolution_status = 'resolved'
    and ticket_stats.recontacts_in_window = 0 as is_first_contact_resolved,
    resolutions.resolved_contact_id,
    cast(resolutions.resolved_contact_ended_at as {{ dbt.type_timestamp() }}) as resolved_at,
    resolutions.resolved_contact_id is not null as is_resolved,
    {{ hours_between('first_contacts.started_at', 'resolutions.resolved_contact_ended_at') }} as hours_to_resolution,
    coalesce(
        resolutions.resolved_contact_ended_at
        <= {{ dbt.dateadd('day', var('fast_resolution_days'), 'first_contacts.started_at') }},
        false
    ) as is_resolved_within_fast_window
from first_contacts
inner join ticket_stats on first_contacts.ticket_id = ticket_stats.ticket_id
left join resolutions on first_contacts.ticket_id = resolutions.ticket_id
left join ranked as attributed
    on
        ticket_stats.ticket_id = attributed.ticket_id
        and ticket_stats.first_attributed_sequence = attributed.contact_sequence
