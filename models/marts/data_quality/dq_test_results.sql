-- Every test result of every dbt invocation (see macros/data_quality/test_results_log.sql):
-- the log's columns, and an id of the result.
select
    *,
    {{ dbt.concat(['invocation_id', "':'", 'test_unique_id']) }} as test_result_id
from {{ ref('stg_dq_runtime__test_results') }}
