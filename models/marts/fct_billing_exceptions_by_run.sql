-- Billing exceptions per billing run and exception type, reviewed at every
-- run beside bill accuracy: how many were raised, how many stopped a bill
-- (no bill_id), how many are resolved and the median hours from raised to
-- resolved over the resolved ones (empty when none is).
with runs as (
    select
        billing_run_id,
        run_date
    from {{ ref('stg_cis__billing_runs') }}
    where is_in_force
),

exceptions as (
    select
        billing_run_id,
        exception_type,
        bill_id,
        resolved_at,
        case
            when resolved_at is not null then {{ hours_between('raised_at', 'resolved_at') }}
        end as hours_to_resolve
    from {{ ref('stg_cis__billing_exceptions') }}
    where is_in_force
),

by_run as (
    select
        billing_run_id,
        exception_type,
        count(*) as exceptions,
        sum(case when bill_id is null then 1 else 0 end) as exceptions_without_bill,
        count(resolved_at) as resolved_exceptions,
        {{ quantile_cont('hours_to_resolve', 0.5) }} as median_hours_to_resolve
    from exceptions
    group by billing_run_id, exception_type
)

select
    cast(by_run.billing_run_id as {{ dbt.type_string() }}) as billing_run_id,
    cast(runs.run_date as date) as run_date,
    cast(by_run.exception_type as {{ dbt.type_string() }}) as exception_type,
    cast(by_run.exceptions as {{ dbt.type_bigint() }}) as exceptions,
    cast(by_run.exceptions_without_bill as {{ dbt.type_bigint() }}) as exceptions_without_bill,
    cast(by_run.resolved_exceptions as {{ dbt.type_bigint() }}) as resolved_exceptions,
    cast(by_run.median_hours_to_resolve as {{ type_double() }}) as median_hours_to_resolve
from by_run
left join runs on by_run.billing_run_id = runs.billing_run_id
