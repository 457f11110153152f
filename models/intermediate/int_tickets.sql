-- One row per ticket (contacts sharing a ticket_id). The first contact is the
-- earliest started_at, ties going to the smallest contact_id. A recontact is
-- another contact on the ticket starting in (t, t + N days], where t is the
-- first contact's start and N is var `fcr_recontact_window_days`.
with contacts as (
    select * from {{ ref('int_contacts') }}
    where ticket_id is not null
),

ranked as (
    select
        *,
        row_number() over (partition by ticket_id order by started_at, contact_id) as contact_sequence
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
        min(case when others.account_id is not null then others.contact_sequence end) as first_attributed_sequence
    from first_contacts
    inner join ranked as others on first_contacts.ticket_id = others.ticket_id
    group by first_contacts.ticket_id
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
    and ticket_stats.recontacts_in_window = 0 as is_first_contact_resolved
from first_contacts
inner join ticket_stats on first_contacts.ticket_id = ticket_stats.ticket_id
left join ranked as attributed
    on
        ticket_stats.ticket_id = attributed.ticket_id
        and ticket_stats.first_attributed_sequence = attributed.contact_sequence
