{#- AMI integrity check with a share-based threshold (one stray row must not
    block a daily refresh, a broken extract must).

    Failing rows are the rows of `model` where `failing_when` holds (grouped by
    `group_by` columns when given, with first/last `date_column`). Every
    returned row also carries the totals:
      failing_weight_total  sum of `weight` over all failing rows
      population_weight     sum of `population_weight` over `population`
                            (default: the model itself) where `population_filter`
      failing_share         failing_weight_total / population_weight
      max_share, exceeds_max_share (1 when failing_share > max_share)

    Outcome: pass when nothing fails, WARN when something fails, ERROR when the
    failing share exceeds `max_share` and the population is at least
    `min_population` (default var ami_error_min_population, 20: a share of a
    handful of rows means nothing, so a tiny extract only warns). This is
    done with warn_if '>0' and an error_if condition evaluated next to the
    failure count
    (`count(*) > 0 and max(exceeds_max_share) = 1`), so the reported count
    stays the number of stored failure rows. Failures are stored
    (store_failures) for an operator. -#}
{% test ami_share_within(model, failing_when, max_share, group_by=none, date_column=none, weight='1', population=none, population_weight='1', population_filter='1 = 1', min_population=none) %}
{%- set min_pop = min_population if min_population is not none else var('ami_error_min_population', 20) %}
{{ config(
    store_failures=true,
    warn_if='> 0',
    error_if='> 0 and max(exceeds_max_share) = 1'
) }}
with population_total as (
    select coalesce(sum({{ population_weight }}), 0) as population_weight
    from {{ population if population is not none else model }}
    where {{ population_filter }}
),

failing as (
    select *, {{ weight }} as failing_weight
    from {{ model }}
    where {{ failing_when }}
),

failing_total as (
    select coalesce(sum(failing_weight), 0) as failing_weight_total
    from failing
),

failing_rows as (
    {%- if group_by %}
    select
        {%- for c in group_by %}
        {{ c }},
        {%- endfor %}
        {%- if date_column %}
        min({{ date_column }}) as first_failing_date,
        max({{ date_column }}) as last_failing_date,
        {%- endif %}
        count(*) as failing_rows,
        sum(failing_weight) as failing_weight_in_group
    from failing
    group by {% for c in group_by %}{{ c }}{{ ", " if not loop.last }}{% endfor %}
    {%- else %}
    select * from failing
    {%- endif %}
),

shares as (
    select
        failing_total.failing_weight_total,
        population_total.population_weight,
        case
            when population_total.population_weight > 0
                then 1.0 * failing_total.failing_weight_total / population_total.population_weight
        end as failing_share
    from failing_total
    cross join population_total
)

select
    failing_rows.*,
    shares.failing_weight_total,
    shares.population_weight,
    shares.failing_share,
    {{ max_share }} as max_share,
    {{ min_pop }} as min_population,
    case
        when shares.population_weight >= {{ min_pop }} and shares.failing_share > {{ max_share }} then 1
        else 0
    end as exceeds_max_share
from failing_rows
cross join shares
{% endtest %}
