-- The test-result log written by the on-run-end hook, 1:1 (a view, so it
-- always includes the current run).
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
    execution_seconds
from {{ source('dq_runtime', 'test_results') }}
