-- The hand-off batches, 1:1 with the ledger copy (source handoff.batches).
select
    cast(batch_id as {{ dbt.type_string() }}) as batch_id,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(as_of_date as date) as as_of_date,
    cast(row_count as {{ dbt.type_bigint() }}) as row_count,
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(file_name as {{ dbt.type_string() }}) as file_name
from {{ source('handoff', 'batches') }}
