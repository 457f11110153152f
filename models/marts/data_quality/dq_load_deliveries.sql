-- One row per delivery (file) of every CIS export the warehouse holds, with
-- what became of its rows: raw = kept (in force) + duplicates + rejected
-- + superseded (replaced by a later delivery of the same key). Counted once
-- per delivery when staging writes it (int_delivery_outcomes).
select
    source_file,
    source_delivery,
    delivery_fingerprint,
    raw_rows,
    kept_rows,
    duplicate_rows,
    rejected_rows,
    malformed_rows,
    superseded_rows
from {{ ref('int_delivery_outcomes') }}
