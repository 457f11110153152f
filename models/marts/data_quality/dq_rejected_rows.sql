-- Every rejected raw row of every CIS export, with its key, all its reasons
-- and its raw values, so an operator can fix the export. Exact duplicates of
-- a rejected row appear once (raw_copies counts them). Read once per
-- delivery when staging writes it (int_rejected_rows).
--
-- Incremental by delivery, as int_rejected_rows (a table on Spark): a scheduled run
-- appends the rows int_rejected_rows wrote since this table's last run, and the
-- post-hook retires the older rows of the deliveries intake recounted since
-- (every one has a row in int_delivery_outcomes; docs/incremental.md). loaded_at stays in the working state: the publish
-- leaves it out.
{{ config(**cx_incremental_config(
    'append',
    post_hook="{{ cx_retire_recounted_deliveries(recounted=ref('int_delivery_outcomes')) }}")) }}
{%- set plan = cx_change_plan(none, none) %}
select
    cast(source_file as {{ type_varchar() }}) as source_file,
    cast(source_delivery as {{ type_varchar() }}) as source_delivery,
    source_line,
    cast(rejected_row_id as {{ type_varchar() }}) as rejected_row_id,
    cast(primary_key_value as {{ type_varchar() }}) as primary_key_value,
    cast(reject_reason as {{ type_varchar() }}) as reject_reason,
    cast(raw_row as {{ type_varchar() }}) as raw_row,
    raw_copies,
    {{ cx_loaded_at() }} as loaded_at
from {{ ref('int_rejected_rows') }}
{{ cx_delivery_rows_filter(plan) }}
