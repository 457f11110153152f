-- Channel mix of self-service adoption's interactions by period (day, week,
-- month) and segment: the records of its denominator (portal transactions
-- under their portal channel, contained IVR calls as ivr, assisted contacts
-- under their channel), their share of the period and segment, and for
-- month rows the same channel's share one year earlier. A channel's group
-- comes from the metric itself: self-service where its interactions are in
-- the numerator, assisted where they are only in the denominator.
with calendar as (
    select * from {{ ref('int_calendar_days') }}
),

period_grains as (
    {{ period_grains() }}
),

periods as (
    {{ sum_daily_to_periods(keys=['channel'], metrics=['self_service_adoption']) }}
),

interactions as (
    select
        period_grain,
        period_start,
        segment_type,
        segment_value,
        channel,
        case when numerator > 0 then 'self_service' else 'assisted' end as channel_group,
        denominator as interactions
    from periods
),

shares as (
    select
        *,
        sum(interactions) over (
            partition by period_grain, period_start, segment_type, segment_value
        ) as total_interactions
    from interactions
    where interactions > 0
)

select
    cast(shares.period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(shares.period_start as date) as period_start,
    cast(shares.segment_type as {{ dbt.type_string() }}) as segment_type,
    cast(shares.segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(shares.channel as {{ dbt.type_string() }}) as channel,
    cast(shares.channel_group as {{ dbt.type_string() }}) as channel_group,
    cast(shares.interactions as {{ dbt.type_bigint() }}) as interactions,
    cast(shares.total_interactions as {{ dbt.type_bigint() }}) as total_interactions,
    cast(1.0 * shares.interactions / shares.total_interactions as {{ type_double() }}) as channel_share,
    cast(1.0 * prior_year.interactions / prior_year.total_interactions as {{ type_double() }}) as prior_year_share
from shares
left join shares as prior_year
    on {{ prior_year_join('shares', 'prior_year', ['segment_type', 'segment_value', 'channel']) }}
