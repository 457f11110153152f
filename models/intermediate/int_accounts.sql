-- Kept accounts with their customer's derived attributes. The birth date
-- itself stays in staging: only the dates the customer turns 35, 50 and 65
-- (age-band boundaries), whether an e-mail exists and whether the customer
-- asked not to be surveyed travel on.
with accounts as (
    select * from {{ ref('stg_cis__accounts') }}
    where is_in_force
),

customers as (
    select * from {{ ref('stg_cis__customers') }}
    where is_in_force
)

select
    accounts.account_id,
    accounts.customer_id,
    accounts.premise_id,
    accounts.account_class,
    accounts.rate_code,
    accounts.service_area,
    accounts.opened_date,
    accounts.closed_date,
    customers.customer_id is not null as has_known_customer,
    customers.email is not null as has_email,
    coalesce(customers.survey_opt_out, false) as is_survey_opted_out,
    customers.birth_date is not null as has_birth_date,
    {{ anniversary('customers.birth_date', 35) }} as turns_35_on,
    {{ anniversary('customers.birth_date', 50) }} as turns_50_on,
    {{ anniversary('customers.birth_date', 65) }} as turns_65_on,
    -- when this table was last built: an incremental reader that ran after it
    -- knows no account changed since (int_metric_records)
    {{ cx_loaded_at() }} as loaded_at
from accounts
left join customers on accounts.customer_id = customers.customer_id
