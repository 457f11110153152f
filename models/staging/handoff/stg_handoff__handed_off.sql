-- The survey triggers handed off, 1:1 with the ledger copy (source handoff.handed_off).
select
    cast(trigger_type as {{ dbt.type_string() }}) as trigger_type,
    cast(trigger_id as {{ dbt.type_string() }}) as trigger_id,
    cast(batch_id as {{ dbt.type_string() }}) as batch_id
from {{ source('handoff', 'handed_off') }}
