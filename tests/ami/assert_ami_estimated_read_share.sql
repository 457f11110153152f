-- Months of read_date whose share of estimated AMI reads is above
-- var ami_estimated_read_warn_share (default 0.10): WARN; ERROR when any month
-- is above var ami_estimated_read_error_share (default 0.30) with at least
-- var ami_error_min_population (default 20) reads. Failing months are stored
-- for an operator.
{{ config(
    store_failures=true,
    warn_if='> 0',
    error_if='> 0 and max(exceeds_error_share) = 1'
) }}
{%- set warn_share = var('ami_estimated_read_warn_share', 0.10) %}
{%- set error_share = var('ami_estimated_read_error_share', 0.30) %}
{%- set min_pop = var('ami_error_min_population', 20) %}
select
    read_month,
    reads,
    estimated_reads,
    estimated_share,
    {{ warn_share }} as warn_share,
    {{ error_share }} as error_share,
    case when estimated_share > {{ error_share }} and reads >= {{ min_pop }} then 1 else 0 end as exceeds_error_share
from {{ ref('int_ami_read_quality_monthly') }}
where estimated_share > {{ warn_share }}
