-- One row per dbt invocation: what ran, passed, warned, failed and the failing rows.
select
    invocation_id,
    min(run_started_at) as run_started_at,
    cast(count(*) as {{ dbt.type_bigint() }}) as tests_run,
    cast(sum(case when status in ('pass', 'success') then 1 else 0 end) as {{ dbt.type_bigint() }}) as tests_passed,
    cast(sum(case when status = 'warn' then 1 else 0 end) as {{ dbt.type_bigint() }}) as tests_warned,
    cast(sum(case when status = 'fail' then 1 else 0 end) as {{ dbt.type_bigint() }}) as tests_failed,
    cast(sum(case when status = 'error' then 1 else 0 end) as {{ dbt.type_bigint() }}) as tests_errored,
    cast(sum(case when status in ('warn', 'fail') then coalesce(failing_rows, 0) else 0 end) as {{ dbt.type_bigint() }}) as failing_rows,
    sum(case when status in ('fail', 'error') then 1 else 0 end) = 0 as is_healthy
from {{ ref('dq_test_results') }}
group by invocation_id
