-- Gate: every billing run and every month of bill_date with at least
-- var ami_usage_match_min_covered_bills (default 10) fully covered bills must
-- have ami_usage_match_rate >= var ami_usage_match_rate_min (default 0.90).
-- Periods with fewer covered bills are too small to judge and are skipped.
-- Failing periods are stored for an operator; any failing period is an error.
{{ config(store_failures=true, severity='error') }}
{%- set rate_min = var('ami_usage_match_rate_min', 0.90) %}
{%- set min_covered = var('ami_usage_match_min_covered_bills', 10) %}
select
    period_type,
    period_key,
    period_start_date,
    bills,
    fully_covered_bills,
    matched_bills,
    ami_usage_match_rate,
    {{ rate_min }} as ami_usage_match_rate_min,
    {{ min_covered }} as min_covered_bills
from {{ ref('fct_ami_usage_match') }}
where
    fully_covered_bills >= {{ min_covered }}
    and ami_usage_match_rate < {{ rate_min }}
