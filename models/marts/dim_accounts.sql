-- One row per kept account with the attributes metrics are segmented by, as
-- of the as-of date. No personal data: the age band replaces the birth date.
with reporting_window as (
    select * from {{ ref('int_reporting_window') }}
),

accounts as (
    select * from {{ ref('int_accounts') }}
),

state_on_as_of as (
    select
        intervals.account_id,
        intervals.delivery_method,
        intervals.age_band
    from {{ ref('int_account_delivery_intervals') }} as intervals
    cross join reporting_window
    where
        intervals.valid_from <= reporting_window.as_of_date
        and reporting_window.as_of_date < intervals.valid_to
),

portal_accounts as (
    select distinct account_id
    from {{ ref('stg_cis__portal_users') }}
    where is_in_force
)

select
    cast(accounts.account_id as {{ dbt.type_string() }}) as account_id,
    cast(accounts.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(accounts.premise_id as {{ dbt.type_string() }}) as premise_id,
    cast(accounts.account_class as {{ dbt.type_string() }}) as account_class,
    cast(accounts.rate_code as {{ dbt.type_string() }}) as rate_code,
    cast(accounts.service_area as {{ dbt.type_string() }}) as service_area,
    cast(accounts.opened_date as date) as opened_date,
    cast(accounts.closed_date as date) as closed_date,
    accounts.opened_date <= reporting_window.as_of_date
    and (accounts.closed_date is null or reporting_window.as_of_date < accounts.closed_date) as is_active_on_as_of_date,
    cast({{ age_band(
        'accounts.account_class', 'accounts.has_birth_date', 'accounts.turns_35_on',
        'accounts.turns_50_on', 'accounts.turns_65_on', 'reporting_window.as_of_date'
    ) }} as {{ dbt.type_string() }}) as age_band_on_as_of_date,
    cast(state_on_as_of.delivery_method as {{ dbt.type_string() }}) as delivery_method_on_as_of_date,
    portal_accounts.account_id is not null as is_portal_registered,
    accounts.has_email,
    cast(reporting_window.as_of_date as date) as as_of_date
from accounts
cross join reporting_window
left join state_on_as_of on accounts.account_id = state_on_as_of.account_id
left join portal_accounts on accounts.account_id = portal_accounts.account_id
