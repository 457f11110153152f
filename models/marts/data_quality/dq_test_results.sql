-- Every test result of every dbt invocation (see macros/data_quality/test_results_log.sql).
select
    invocation_id,
    run_started_at,
    test_unique_id,
    test_name,
    test_type,
    tested_node,
    severity,
    status,
    failing_rows,
    message,
    execution_seconds,
    {{ dbt.concat(['invocation_id', "':'", 'test_unique_id']) }} as test_result_id
from {{ ref('stg_dq_runtime__test_results') }}
