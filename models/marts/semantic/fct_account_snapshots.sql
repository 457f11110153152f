-- The semantic layer's snapshot facts: accounts active and accounts on
-- e-bill per day of the reporting window and combination of segment
-- attributes (int_account_snapshots), keyed for MetricFlow. Summed over
-- combinations they give any segment's snapshot; over days they must not be
-- summed (a semi-additive measure: the period's last day is its snapshot).
select
    cast({{ dbt.concat(["cast(snapshot_date as " ~ dbt.type_string() ~ ")", "'|'", segment_key('snapshots')]) }} as {{ dbt.type_string() }}) as snapshot_key,
    cast(snapshot_date as date) as snapshot_date,
    {{ segment_key('snapshots') }} as segment_key,
    cast(active_accounts as {{ dbt.type_bigint() }}) as active_accounts,
    cast(ebill_accounts as {{ dbt.type_bigint() }}) as ebill_accounts
from {{ ref('int_account_snapshots') }} as snapshots
