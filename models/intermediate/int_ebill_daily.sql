-- E-bill adoption per day of the reporting window and segment: accounts
-- active that day (denominator) and those of them on `ebill` (numerator),
-- the sums of the day's attribute combinations (int_account_snapshots) for
-- each segment type. Segments with no active account that day have no row.
with snapshots as (
    select * from {{ ref('int_account_snapshots') }}
)

select
    snapshots.snapshot_date,
    segment_types.segment_type,
    {{ segment_value('segment_types.segment_type', 'snapshots', has_contact_reason=false) }} as segment_value,
    cast(sum(snapshots.ebill_accounts) as {{ dbt.type_bigint() }}) as ebill_accounts,
    cast(sum(snapshots.active_accounts) as {{ dbt.type_bigint() }}) as active_accounts
from snapshots
cross join {{ ref('segment_types') }} as segment_types
where segment_types.segment_type <> 'contact_reason'
group by
    snapshots.snapshot_date,
    segment_types.segment_type,
    {{ segment_value('segment_types.segment_type', 'snapshots', has_contact_reason=false) }}
