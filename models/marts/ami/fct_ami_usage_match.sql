-- Bill vs AMI usage match rate per billing run and per month of bill_date.
-- A bill counts as matched when every day of its service period has an
-- attributed AMI read for its account (fully covered) and the billed kWh is
-- within var ami_usage_tolerance of the AMI kWh (see int_ami_bill_usage).
-- ami_usage_match_rate = matched_bills / fully_covered_bills (null when no
-- bill of the period is fully covered).
with bill_usage as (
    select * from {{ ref('int_ami_bill_usage') }}
),

runs as (
    select
        billing_run_id,
        run_date
    from {{ ref('stg_cis__billing_runs') }}
    where is_in_force
),

period_types as (
    select 'billing_run' as period_type
    union all
    select 'month' as period_type
),

by_period as (
    select
        period_types.period_type,
        case period_types.period_type
            when 'billing_run' then bill_usage.billing_run_id
            else {{ dbt.cast('bill_usage.bill_month', dbt.type_string()) }}
        end as period_key,
        case when period_types.period_type = 'month' then bill_usage.bill_month end as period_month,
        count(*) as bills,
        sum(case when bill_usage.is_fully_covered then 1 else 0 end) as fully_covered_bills,
        sum(case when bill_usage.is_matched then 1 else 0 end) as matched_bills,
        sum(case when bill_usage.is_fully_covered then bill_usage.billed_kwh else 0 end) as covered_billed_kwh,
        sum(case when bill_usage.is_fully_covered then bill_usage.ami_kwh else 0 end) as covered_ami_kwh
    from bill_usage
    cross join period_types
    group by
        period_types.period_type,
        case period_types.period_type
            when 'billing_run' then bill_usage.billing_run_id
            else {{ dbt.cast('bill_usage.bill_month', dbt.type_string()) }}
        end,
        case when period_types.period_type = 'month' then bill_usage.bill_month end
)

select
    cast(by_period.period_type as {{ dbt.type_string() }}) as period_type,
    cast(by_period.period_key as {{ dbt.type_string() }}) as period_key,
    cast(coalesce(by_period.period_month, runs.run_date) as date) as period_start_date,
    cast(by_period.bills as {{ dbt.type_bigint() }}) as bills,
    cast(by_period.fully_covered_bills as {{ dbt.type_bigint() }}) as fully_covered_bills,
    cast(by_period.matched_bills as {{ dbt.type_bigint() }}) as matched_bills,
    cast(by_period.covered_billed_kwh as {{ type_double() }}) as covered_billed_kwh,
    cast(by_period.covered_ami_kwh as {{ type_double() }}) as covered_ami_kwh,
    cast(1.0 * by_period.fully_covered_bills / by_period.bills as {{ type_double() }}) as ami_coverage_rate,
    cast(
        case
            when by_period.fully_covered_bills > 0 then 1.0 * by_period.matched_bills / by_period.fully_covered_bills
        end as {{ type_double() }}
    ) as ami_usage_match_rate
from by_period
left join runs
    on
        by_period.period_type = 'billing_run'
        and by_period.period_key = runs.billing_run_id
