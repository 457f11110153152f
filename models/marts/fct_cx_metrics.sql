-- The CX metrics by period (day, week, month) and segment: the six of the
-- contract plus the inbound contact rate. Numerators and denominators are
-- stored so any roll-up is a ratio of sums. Weeks and months of the five
-- additive metrics are sums of their days; e-bill adoption takes the period's
-- snapshot day (last day, or the as-of date if earlier); the inbound contact
-- rate divides the period's contacts by the accounts active on that snapshot
-- day, with a row for every segment that has active accounts (zero contacts
-- included) and one per contract reason code.
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

period_grains as (
    {{ period_grains() }}
),

additive as (
    {{ sum_daily_to_periods() }}
),

snapshots as (
    select
        period_grains.period_grain,
        {{ period_start_of('period_grains.period_grain', 'calendar') }} as period_start,
        ebill_daily.segment_type,
        ebill_daily.segment_value,
        ebill_daily.ebill_accounts,
        ebill_daily.active_accounts
    from {{ ref('int_ebill_daily') }} as ebill_daily
    inner join calendar on ebill_daily.snapshot_date = calendar.calendar_date
    cross join period_grains
    where
        period_grains.period_grain = 'day'
        or (period_grains.period_grain = 'week' and calendar.is_week_snapshot)
        or (period_grains.period_grain = 'month' and calendar.is_month_snapshot)
),

ebill as (
    select
        'ebill_adoption' as metric_name,
        period_grain,
        period_start,
        segment_type,
        segment_value,
        ebill_accounts as numerator,
        active_accounts as denominator
    from snapshots
),

reason_codes as (
    {{ string_values_relation(contact_reason_codes(), 'reason_code') }}
),

-- every account-based segment with active accounts, plus each reason code
-- over all active accounts (unknown has no accounts: its contacts count in all)
contact_rate_segments as (
    select
        period_grain,
        period_start,
        segment_type,
        segment_value,
        active_accounts
    from snapshots
    union all
    select
        snapshots.period_grain,
        snapshots.period_start,
        'contact_reason' as segment_type,
        reasons.reason_code as segment_value,
        snapshots.active_accounts
    from snapshots
    cross join reason_codes as reasons
    where snapshots.segment_type = 'all'
),

contact_rate as (
    select
        'inbound_contact_rate' as metric_name,
        segments.period_grain,
        segments.period_start,
        segments.segment_type,
        segments.segment_value,
        coalesce(contacts.numerator, 0) as numerator,
        segments.active_accounts as denominator
    from contact_rate_segments as segments
    left join additive as contacts
        on
            contacts.metric_name = 'inbound_contact_rate'
            and segments.period_grain = contacts.period_grain
            and segments.period_start = contacts.period_start
            and segments.segment_type = contacts.segment_type
            and segments.segment_value = contacts.segment_value
),

metrics as (
    select
        metric_name,
        period_grain,
        period_start,
        segment_type,
        segment_value,
        numerator,
        denominator
    from additive
    where metric_name <> 'inbound_contact_rate'
    union all
    select * from ebill
    union all
    select * from contact_rate
),

valued as (
    select
        metric_name,
        period_grain,
        period_start,
        segment_type,
        segment_value,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ dbt.type_bigint() }}) as denominator,
        1.0 * numerator / denominator as metric_value,
        case period_grain
            when 'day' then period_start
            when 'week' then cast({{ dbt.dateadd('day', 6, 'period_start') }} as date)
            else cast({{ dbt.last_day('period_start', 'month') }} as date)
        end as period_end
    from metrics
    where denominator > 0
)

select
    cast(valued.metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(valued.period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(valued.period_start as date) as period_start,
    cast(valued.segment_type as {{ dbt.type_string() }}) as segment_type,
    cast(valued.segment_value as {{ dbt.type_string() }}) as segment_value,
    valued.numerator,
    valued.denominator,
    cast(valued.metric_value as {{ type_double() }}) as metric_value,
    cast(prior_year.metric_value as {{ type_double() }}) as prior_year_value,
    cast(valued.metric_value - prior_year.metric_value as {{ type_double() }}) as yoy_change,
    coalesce(
        valued.metric_name = 'first_contact_resolution'
        and {{ dbt.datediff('valued.period_end', 'reporting_window.as_of_date', 'day') }}
        < {{ var('fcr_recontact_window_days') }},
        false
    ) as is_provisional
from valued
cross join reporting_window
left join valued as prior_year
    on {{ prior_year_join('valued', 'prior_year', ['metric_name', 'segment_type', 'segment_value']) }}
