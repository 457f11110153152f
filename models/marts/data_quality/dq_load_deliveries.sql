-- One row per delivery (file) of every CIS export the warehouse holds, with
-- what became of its rows: raw = kept (in force) + duplicates + rejected
-- + superseded (replaced by a later delivery of the same key). Counted once
-- per delivery when staging writes it (int_delivery_outcomes).
--
-- Incremental by delivery, as int_delivery_outcomes (a table on Spark): a scheduled run
-- appends the rows int_delivery_outcomes wrote since this table's last run, and the
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
    cast(delivery_fingerprint as {{ type_varchar() }}) as delivery_fingerprint,
    raw_rows,
    kept_rows,
    duplicate_rows,
    rejected_rows,
    malformed_rows,
    superseded_rows,
    {{ cx_loaded_at() }} as loaded_at
from {{ ref('int_delivery_outcomes') }}
{{ cx_delivery_rows_filter(plan) }}
