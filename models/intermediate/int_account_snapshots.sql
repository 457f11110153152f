-- Accounts active and accounts on e-bill per day of the reporting window and
-- combination of segment attributes (account class, rate code, service area,
-- age band): the snapshot counts every segment is a sum of. Computed from
-- interval start/end deltas and a running sum over the calendar, so the cost
-- grows with intervals + days x combinations, not accounts x days. Deltas
-- before the window are folded into its first day. A combination with no
-- active account on a day has no row that day.
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

intervals as (
    select
        intervals.account_class,
        intervals.rate_code,
        intervals.service_area,
        intervals.age_band,
        intervals.valid_from,
        intervals.valid_to,
        case when intervals.is_ebill then 1 else 0 end as ebill
    from {{ ref('int_account_delivery_intervals') }} as intervals
    cross join reporting_window
    where
        intervals.valid_from <= reporting_window.as_of_date
        and intervals.valid_to > reporting_window.window_start_date
),

deltas as (
    select
        intervals.account_class,
        intervals.rate_code,
        intervals.service_area,
        intervals.age_band,
        greatest(intervals.valid_from, reporting_window.window_start_date) as delta_date,
        1 as active_delta,
        intervals.ebill as ebill_delta
    from intervals
    cross join reporting_window
    union all
    select
        intervals.account_class,
        intervals.rate_code,
        intervals.service_area,
        intervals.age_band,
        intervals.valid_to as delta_date,
        -1 as active_delta,
        -intervals.ebill as ebill_delta
    from intervals
    cross join reporting_window
    where intervals.valid_to <= reporting_window.as_of_date
),

daily_deltas as (
    select
        account_class,
        rate_code,
        service_area,
        age_band,
        delta_date,
        sum(active_delta) as active_delta,
        sum(ebill_delta) as ebill_delta
    from deltas
    group by account_class, rate_code, service_area, age_band, delta_date
),

combinations as (
    select distinct
        account_class,
        rate_code,
        service_area,
        age_band
    from daily_deltas
),

running as (
    select
        calendar.calendar_date,
        combinations.account_class,
        combinations.rate_code,
        combinations.service_area,
        combinations.age_band,
        sum(coalesce(daily_deltas.active_delta, 0)) over (
            partition by combinations.account_class, combinations.rate_code, combinations.service_area, combinations.age_band
            order by calendar.calendar_date
            rows between unbounded preceding and current row
        ) as active_accounts,
        sum(coalesce(daily_deltas.ebill_delta, 0)) over (
            partition by combinations.account_class, combinations.rate_code, combinations.service_area, combinations.age_band
            order by calendar.calendar_date
            rows between unbounded preceding and current row
        ) as ebill_accounts
    from {{ ref('int_calendar_days') }} as calendar
    cross join combinations
    left join daily_deltas
        on
            combinations.account_class = daily_deltas.account_class
            and combinations.rate_code = daily_deltas.rate_code
            and combinations.service_area = daily_deltas.service_area
            and combinations.age_band = daily_deltas.age_band
            and calendar.calendar_date = daily_deltas.delta_date
)

select
    calendar_date as snapshot_date,
    account_class,
    rate_code,
    service_area,
    age_band,
    cast(ebill_accounts as {{ dbt.type_bigint() }}) as ebill_accounts,
    cast(active_accounts as {{ dbt.type_bigint() }}) as active_accounts
from running
where active_accounts > 0
