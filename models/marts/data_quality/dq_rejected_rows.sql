-- Every rejected raw row of every CIS export, with its key, all its reasons
-- and its raw values, so an operator can fix the export. Exact duplicates of
-- a rejected row appear once (raw_copies counts them). Read once per
-- delivery when staging writes it (int_rejected_rows).
select
    source_file,
    source_delivery,
    source_line,
    rejected_row_id,
    primary_key_value,
    reject_reason,
    raw_row,
    raw_copies
from {{ ref('int_rejected_rows') }}
