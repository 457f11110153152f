-- One row per kept bill with its accuracy flags. A bill is accurate when no
-- billing exception names it and no bill corrects it (corrects_bill_id).
with bills as (
    select * from {{ ref('stg_cis__bills') }}
    where is_in_force
),

exceptions_per_bill as (
    select
        bill_id,
        count(*) as exceptions
    from {{ ref('stg_cis__billing_exceptions') }}
    where is_in_force and bill_id is not null
    group by bill_id
),

corrections as (
    select
        corrects_bill_id as bill_id,
        count(*) as corrections
    from bills
    where corrects_bill_id is not null
    group by corrects_bill_id
)

select
    bills.bill_id,
    bills.account_id,
    bills.billing_run_id,
    bills.bill_date,
    bills.service_period_start,
    bills.service_period_end,
    bills.billed_kwh,
    bills.amount_due,
    bills.is_estimated,
    bills.corrects_bill_id,
    bills.corrects_bill_id is not null as is_rebill,
    coalesce(exceptions_per_bill.exceptions, 0) as exceptions,
    coalesce(corrections.corrections, 0) > 0 as is_corrected,
    coalesce(exceptions_per_bill.exceptions, 0) = 0 and coalesce(corrections.corrections, 0) = 0 as is_accurate,
    -- when this table was last built: an incremental reader that ran after it
    -- knows no bill changed since (int_ami_bill_usage)
    {{ cx_loaded_at() }} as loaded_at
from bills
left join exceptions_per_bill on bills.bill_id = exceptions_per_bill.bill_id
left join corrections on bills.bill_id = corrections.bill_id
