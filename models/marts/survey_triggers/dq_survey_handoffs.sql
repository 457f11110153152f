-- One row per survey hand-off batch (the audit of the one path by which
-- personal data leaves the warehouse; the batch files themselves hold the
-- names and e-mails, this mart none): when, from which as-of date, how many
-- triggers of each type, and the file's hash. From the hand-off ledger
-- (stg_handoff__*), which every run copies in.
with batches as (
    select * from {{ ref('stg_handoff__batches') }}
),

by_type as (
    select
        batch_id,
        count(case when trigger_type = 'bill' then 1 end) as bill_rows,
        count(case when trigger_type = 'payment' then 1 end) as payment_rows,
        count(case when trigger_type = 'service_order' then 1 end) as service_order_rows,
        count(case when trigger_type = 'contact' then 1 end) as contact_rows
    from {{ ref('stg_handoff__handed_off') }}
    group by batch_id
)

select
    cast(batches.batch_id as {{ dbt.type_string() }}) as batch_id,
    cast(batches.created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(batches.as_of_date as date) as as_of_date,
    cast(batches.row_count as {{ dbt.type_bigint() }}) as row_count,
    cast(coalesce(by_type.bill_rows, 0) as {{ dbt.type_bigint() }}) as bill_rows,
    cast(coalesce(by_type.payment_rows, 0) as {{ dbt.type_bigint() }}) as payment_rows,
    cast(coalesce(by_type.service_order_rows, 0) as {{ dbt.type_bigint() }}) as service_order_rows,
    cast(coalesce(by_type.contact_rows, 0) as {{ dbt.type_bigint() }}) as contact_rows,
    cast(batches.sha256 as {{ dbt.type_string() }}) as sha256
from batches
left join by_type on batches.batch_id = by_type.batch_id
