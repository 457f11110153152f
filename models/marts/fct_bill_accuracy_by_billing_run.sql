-- Bill accuracy per billing run: every kept run, its bills, its accurate
-- bills and all its exception rows (including those that stopped a bill).
with runs as (
    select
        billing_run_id,
        run_date
    from {{ ref('stg_cis__billing_runs') }}
    where is_in_force
),

bills as (
    select
        billing_run_id,
        count(*) as bills,
        sum(case when is_accurate then 1 else 0 end) as accurate_bills
    from {{ ref('int_bills') }}
    group by billing_run_id
),

exceptions as (
    select
        billing_run_id,
        count(*) as exceptions
    from {{ ref('stg_cis__billing_exceptions') }}
    where is_in_force
    group by billing_run_id
)

select
    cast(runs.billing_run_id as {{ dbt.type_string() }}) as billing_run_id,
    cast(runs.run_date as date) as run_date,
    cast(coalesce(bills.bills, 0) as {{ dbt.type_bigint() }}) as bills,
    cast(coalesce(bills.accurate_bills, 0) as {{ dbt.type_bigint() }}) as accurate_bills,
    cast(coalesce(exceptions.exceptions, 0) as {{ dbt.type_bigint() }}) as exceptions,
    cast(case when coalesce(bills.bills, 0) > 0 then 1.0 * bills.accurate_bills / bills.bills end as {{ type_double() }}) as bill_accuracy
from runs
left join bills on runs.billing_run_id = bills.billing_run_id
left join exceptions on runs.billing_run_id = exceptions.billing_run_id
