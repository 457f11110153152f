-- One row per kept contact, attributed to an account (account unification):
--   1. its account_id when given and known;
--   2. else the caller's phone: customers whose phone has the same last 10
--      digits, then those customers' accounts active on the contact's date;
--      exactly one such account -> that account;
--   3. else unknown (account_id null), with the reason in attribution_method.
-- Entity-grain flags feed every contact-based metric.
with contacts as (
    select * from {{ ref('stg_cis__contacts') }}
    where is_in_force
),

accounts as (
    select
        account_id,
        customer_id,
        opened_date,
        closed_date
    from {{ ref('int_accounts') }}
),

customer_phones as (
    select
        customer_id,
        {{ phone_key('phone') }} as phone_key
    from {{ ref('stg_cis__customers') }}
    where is_in_force and {{ phone_key('phone') }} is not null
),

needs_phone as (
    select
        contacts.contact_id,
        cast(contacts.started_at as date) as started_date,
        {{ phone_key('contacts.caller_phone') }} as caller_phone_key
    from contacts
    left join accounts as given on contacts.account_id = given.account_id
    where given.account_id is null
),

phone_matches as (
    select
        needs_phone.contact_id,
        count(distinct accounts.account_id) as matching_accounts,
        min(accounts.account_id) as matched_account_id
    from needs_phone
    inner join customer_phones on needs_phone.caller_phone_key = customer_phones.phone_key
    inner join accounts
        on
            customer_phones.customer_id = accounts.customer_id
            and needs_phone.started_date >= accounts.opened_date
            and (accounts.closed_date is null or needs_phone.started_date < accounts.closed_date)
    group by needs_phone.contact_id
)

select
    contacts.contact_id,
    contacts.ticket_id,
    contacts.account_id as given_account_id,
    case
        when known.account_id is not null then known.account_id
        when phone_matches.matching_accounts = 1 then phone_matches.matched_account_id
    end as account_id,
    case
        when known.account_id is not null then 'account_id'
        when phone_matches.matching_accounts = 1 then 'caller_phone'
        when phone_matches.matching_accounts > 1 then 'ambiguous_caller_phone'
        when needs_phone.caller_phone_key is not null then 'unmatched_caller_phone'
        else 'no_identifier'
    end as attribution_method,
    contacts.channel,
    contacts.reason_code,
    contacts.started_at,
    cast(contacts.started_at as date) as started_date,
    contacts.agent_id,
    contacts.talk_seconds,
    contacts.hold_seconds,
    contacts.wrap_seconds,
    coalesce(contacts.talk_seconds, 0) + coalesce(contacts.hold_seconds, 0) + coalesce(contacts.wrap_seconds, 0) as handle_seconds,
    contacts.resolution_status,
    contacts.channel in ('phone', 'chat', 'email', 'walk_in') as is_assisted_channel,
    contacts.channel in ('phone', 'chat', 'email', 'walk_in') and contacts.resolution_status <> 'abandoned' as is_assisted_contact,
    contacts.channel = 'ivr' and contacts.resolution_status = 'resolved' as is_ivr_contained,
    contacts.channel = 'phone' and contacts.agent_id is not null and contacts.resolution_status <> 'abandoned' as is_agent_handled_call
from contacts
left join accounts as known on contacts.account_id = known.account_id
left join needs_phone on contacts.contact_id = needs_phone.contact_id
left join phone_matches on contacts.contact_id = phone_matches.contact_id
