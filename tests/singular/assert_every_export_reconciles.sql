-- Fails for every CIS export whose rows do not reconcile: the records counted
-- straight from the files (those the CSV reader could parse, plus the
-- malformed ones it reported) must equal kept + exact duplicates + rejected
-- + superseded, and every export must be present.
{%- set exports = cis_export_names() %}
with file_counts as (
    {%- for name in exports %}
    -- every column is read (concat_ws), so that the reader checks every value
    select
        '{{ name }}' as source_file,
        count(concat_ws('|', {{ cis_contract_columns(name) | join(', ') }})) as file_rows
    from {{ source('cis', name) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    file_counts.source_file,
    file_counts.file_rows,
    reconciliation.raw_rows,
    reconciliation.kept_rows,
    reconciliation.duplicate_rows,
    reconciliation.rejected_rows,
    reconciliation.superseded_rows
from file_counts
left join {{ ref('dq_row_reconciliation') }} as reconciliation
    on file_counts.source_file = reconciliation.source_file
where
    reconciliation.source_file is null
    or reconciliation.raw_rows <> file_counts.file_rows + reconciliation.malformed_rows
    or reconciliation.raw_rows <> (
        reconciliation.kept_rows + reconciliation.duplicate_rows
        + reconciliation.rejected_rows + reconciliation.superseded_rows
    )
