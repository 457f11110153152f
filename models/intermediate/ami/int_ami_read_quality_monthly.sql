-- Kept AMI reads per month of read_date with the share of estimated reads.
select
    cast({{ dbt.date_trunc('month', 'read_date') }} as date) as read_month,
    count(*) as reads,
    sum(case when read_quality = 'estimated' then 1 else 0 end) as estimated_reads,
    cast(1.0 * sum(case when read_quality = 'estimated' then 1 else 0 end) / count(*) as {{ type_double() }}) as estimated_share
from {{ ref('stg_cis__ami_daily_reads') }}
where is_in_force
group by cast({{ dbt.date_trunc('month', 'read_date') }} as date)
