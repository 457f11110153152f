-- Each account's active life cut into intervals [valid_from, valid_to) over
-- which its delivery method and age band are constant. Cuts fall on the
-- opening day, on every delivery-preference change and on the days a
-- residential customer turns 35, 50 and 65; the last interval ends on the
-- closing day (or far in the future). An account with no preference in force
-- is on paper. This is what e-bill snapshots are computed from, instead of
-- exploding every account over every day.
with accounts as (
    select
        account_id,
        account_class,
        rate_code,
        service_area,
        has_birth_date,
        turns_35_on,
        turns_50_on,
        turns_65_on,
        opened_date,
        coalesce(closed_date, cast('9999-12-31' as date)) as closed_date
    from {{ ref('int_accounts') }}
    where closed_date is null or closed_date > opened_date
),

preferences as (
    select
        account_id,
        delivery_method,
        effective_date
    from {{ ref('stg_cis__delivery_preferences') }}
    where is_in_force
),

candidate_cuts as (
    select
        account_id,
        opened_date as cut_date
    from accounts
    union all
    select
        account_id,
        effective_date
    from preferences
    union all
    select
        account_id,
        turns_35_on
    from accounts
    where account_class = 'residential' and has_birth_date
    union all
    select
        account_id,
        turns_50_on
    from accounts
    where account_class = 'residential' and has_birth_date
    union all
    select
        account_id,
        turns_65_on
    from accounts
    where account_class = 'residential' and has_birth_date
),

cuts as (
    select distinct
        candidate_cuts.account_id,
        candidate_cuts.cut_date
    from candidate_cuts
    inner join accounts on candidate_cuts.account_id = accounts.account_id
    where candidate_cuts.cut_date >= accounts.opened_date and candidate_cuts.cut_date < accounts.closed_date
),

pieces as (
    select
        cuts.account_id,
        cuts.cut_date as valid_from,
        coalesce(
            lead(cuts.cut_date) over (partition by cuts.account_id order by cuts.cut_date),
            accounts.closed_date
        ) as valid_to
    from cuts
    inner join accounts on cuts.account_id = accounts.account_id
),

method_in_force as (
    select
        pieces.account_id,
        pieces.valid_from,
        preferences.delivery_method,
        row_number() over (
            partition by pieces.account_id, pieces.valid_from order by preferences.effective_date desc
        ) as recency
    from pieces
    inner join preferences
        on
            pieces.account_id = preferences.account_id
            and pieces.valid_from >= preferences.effective_date
)

select
    pieces.account_id,
    pieces.valid_from,
    pieces.valid_to,
    accounts.account_class,
    accounts.rate_code,
    accounts.service_area,
    {{ age_band(
        'accounts.account_class', 'accounts.has_birth_date', 'accounts.turns_35_on',
        'accounts.turns_50_on', 'accounts.turns_65_on', 'pieces.valid_from'
    ) }} as age_band,
    coalesce(method_in_force.delivery_method, 'paper') as delivery_method,
    coalesce(method_in_force.delivery_method, 'paper') = 'ebill' as is_ebill
from pieces
inner join accounts on pieces.account_id = accounts.account_id
left join method_in_force
    on
        pieces.account_id = method_in_force.account_id
        and pieces.valid_from = method_in_force.valid_from
        and method_in_force.recency = 1
