-- Every AMI read row that staging rejected, with the reasons that matter to
-- the AMI integrity checks split out as flags. The flags match the reason
-- texts written by macros/staging/stage_cis_export.sql.
--
-- Incremental by delivery, as int_rejected_rows (append, then a post-hook
-- retires the re-read deliveries' older rows; a table on Spark): a scheduled
-- run reads only the reads' deliveries staging wrote since its last run.
{{ config(**cx_incremental_config(
    'append',
    post_hook="{{ cx_retire_recounted_deliveries(['raw_ami_daily_reads']) }}")) }}
{%- set plan = cx_delivery_plan(['raw_ami_daily_reads']) %}
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
    reject_reason like '%conflicting duplicate of primary key%' as is_conflicting_duplicate,
    source_delivery,
    {{ cx_loaded_at() }} as loaded_at
from {{ ref('stg_cis__ami_daily_reads') }}
{{ cx_delivery_rows_filter(plan, 'is_rejected') }}
