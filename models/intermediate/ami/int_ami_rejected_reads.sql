-- Every AMI read row that staging rejected, with the reasons that matter to
-- the AMI integrity checks split out as flags. The flags match the reason
-- texts written by macros/staging/stage_cis_export.sql.
select
    staging_row_id as rejected_read_id,
    primary_key_value as read_key,
    meter_id,
    read_date,
    kwh,
    read_quality,
    raw_copies,
    reject_reason,
    raw_row,
    reject_reason like '%negative value: kwh%' as is_negative_kwh,
    reject_reason like '%conflicting duplicate of primary key%' as is_conflicting_duplicate
from {{ ref('stg_cis__ami_daily_reads') }}
where is_rejected
