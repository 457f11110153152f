-- One row per self-service transaction: portal/app events that complete a
-- task (not logins or views) and IVR contacts resolved in the menu (contained).
with portal_users as (
    select
        portal_user_id,
        account_id
    from {{ ref('stg_cis__portal_users') }}
    where is_in_force
),

portal_transactions as (
    select
        'portal_event' as transaction_source,
        events.event_id as source_id,
        portal_users.account_id,
        events.channel,
        events.event_type as transaction_type,
        events.event_at as transaction_at
    from {{ ref('stg_cis__portal_events') }} as events
    left join portal_users on events.portal_user_id = portal_users.portal_user_id
    where
        events.is_in_force
        and events.event_type in (
            'make_payment', 'enroll_autopay', 'enroll_paperless',
            'start_stop_move', 'update_contact_info', 'report_outage'
        )
),

ivr_transactions as (
    select
        'ivr_contact' as transaction_source,
        contact_id as source_id,
        account_id,
        channel,
        reason_code as transaction_type,
        started_at as transaction_at
    from {{ ref('int_contacts') }}
    where is_ivr_contained
),

unioned as (
    select * from portal_transactions
    union all
    select * from ivr_transactions
)

select
    {{ dbt.concat(['unioned.transaction_source', "':'", 'unioned.source_id']) }} as transaction_id,
    unioned.transaction_source,
    unioned.source_id,
    unioned.account_id,
    unioned.channel,
    unioned.transaction_type,
    unioned.transaction_at,
    cast(unioned.transaction_at as date) as transaction_date
from unioned
