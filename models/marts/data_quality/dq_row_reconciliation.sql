-- Per CIS export: raw rows = kept (in force) + exact duplicates dropped
-- + rejected + superseded by a later delivery.
select
    source_file,
    cast(count(*) as {{ dbt.type_bigint() }}) as deliveries,
    cast(sum(raw_rows) as {{ dbt.type_bigint() }}) as raw_rows,
    cast(sum(kept_rows) as {{ dbt.type_bigint() }}) as kept_rows,
    cast(sum(duplicate_rows) as {{ dbt.type_bigint() }}) as duplicate_rows,
    cast(sum(rejected_rows) as {{ dbt.type_bigint() }}) as rejected_rows,
    cast(sum(malformed_rows) as {{ dbt.type_bigint() }}) as malformed_rows,
    cast(sum(superseded_rows) as {{ dbt.type_bigint() }}) as superseded_rows
from {{ ref('dq_load_deliveries') }}
group by source_file
