-- One row: the reporting window. It runs from the earliest to the latest date
-- found in the kept rows of the event exports; the latest is the as-of date
-- unless var `as_of_date` overrides it.
with event_dates as (
    select
        min(bill_date) as first_date,
        max(bill_date) as last_date
    from {{ ref('stg_cis__bills') }}
    where is_in_force
    union all
    select
        min(cast(started_at as date)) as first_date,
        max(cast(started_at as date)) as last_date
    from {{ ref('stg_cis__contacts') }}
    where is_in_force
    union all
    select
        min(cast(event_at as date)) as first_date,
        max(cast(event_at as date)) as last_date
    from {{ ref('stg_cis__portal_events') }}
    where is_in_force
    union all
    select
        min(cast(sent_at as date)) as first_date,
        max(cast(sent_at as date)) as last_date
    from {{ ref('stg_cis__surveys') }}
    where is_in_force
    union all
    select
        min(cast(responded_at as date)) as first_date,
        max(cast(responded_at as date)) as last_date
    from {{ ref('stg_cis__surveys') }}
    where is_in_force
    union all
    select
        min(cast(paid_at as date)) as first_date,
        max(cast(paid_at as date)) as last_date
    from {{ ref('stg_cis__payments') }}
    where is_in_force
)

select
    min(first_date) as window_start_date,
    {%- if var('as_of_date') %}
    cast('{{ var("as_of_date") }}' as date) as as_of_date,
    {%- else %}
    max(last_date) as as_of_date,
    {%- endif %}
    max(last_date) as latest_event_date
from event_dates
