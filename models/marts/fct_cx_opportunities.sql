-- Where to act first: per metric, month of the reporting window and segment,
-- how far the segment is from its target in records (gap_units), and how much
-- the utility-wide value would improve that month if this segment alone
-- reached its target (utility_lift), ranked within metric and month.
--   higher_is_better  gap_units = max(0, target x denominator - numerator)
--   lower_is_better   gap_units = max(0, numerator - target x denominator)
--                     (average_handle_time: agent seconds above target;
--                      inbound_contact_rate: contacts above target)
--   utility_lift      gap_units / denominator of that month's `all` row
-- Every segment type but `all`; for inbound_contact_rate not contact_reason
-- (its target is for all contacts, not per reason). Segments of different
-- types overlap: their lifts do not add up.
with months as (
    select * from {{ ref('fct_cx_metrics') }}
    where period_grain = 'month'
),

targets as (
    select * from {{ ref('metric_targets') }}
),

utility as (
    select
        metric_name,
        period_start,
        denominator as utility_denominator
    from months
    where segment_type = 'all'
),

segments as (
    select
        months.metric_name,
        months.period_start as month_start,
        months.segment_type,
        months.segment_value,
        months.numerator,
        months.denominator,
        months.metric_value,
        months.is_provisional,
        targets.direction,
        targets.target_value,
        targets.source as target_source,
        utility.utility_denominator,
        case
            when targets.direction = 'higher_is_better'
                then targets.target_value * months.denominator - months.numerator
            else months.numerator - targets.target_value * months.denominator
        end as shortfall
    from months
    inner join targets on months.metric_name = targets.metric_name
    left join utility
        on
            months.metric_name = utility.metric_name
            and months.period_start = utility.period_start
    where
        months.segment_type <> 'all'
        and not (months.metric_name = 'inbound_contact_rate' and months.segment_type = 'contact_reason')
),

gaps as (
    select
        *,
        case when shortfall > 0 then shortfall else 0 end as gap_units
    from segments
),

lifted as (
    select
        *,
        case
            when utility_denominator > 0 then gap_units / utility_denominator
        end as utility_lift,
        -- summed as decimals: exact, so the sum does not depend on the order the
        -- engine adds in (a double's sum can differ in its last bit run to run)
        sum(cast(gap_units as decimal(38, 9))) over (partition by metric_name, month_start, segment_type)
            as type_gap_units
    from gaps
),

ranked as (
    select
        lifted.*,
        case when lifted.gap_units > 0 then row_number() over (
            partition by lifted.metric_name, lifted.month_start, case when lifted.gap_units > 0 then 1 else 0 end
            order by
                lifted.utility_lift desc nulls last,
                {{ cx_bytewise('lifted.segment_type') }} asc,
                {{ cx_bytewise('lifted.segment_value') }} asc
        ) end as rank_in_metric
    from lifted
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(month_start as date) as month_start,
    cast(segment_type as {{ dbt.type_string() }}) as segment_type,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(numerator as {{ type_double() }}) as numerator,
    cast(denominator as {{ dbt.type_bigint() }}) as denominator,
    cast(metric_value as {{ type_double() }}) as metric_value,
    cast(direction as {{ dbt.type_string() }}) as direction,
    cast(target_value as {{ type_double() }}) as target_value,
    cast(target_source as {{ dbt.type_string() }}) as target_source,
    cast(gap_units as {{ type_double() }}) as gap_units,
    cast(utility_lift as {{ type_double() }}) as utility_lift,
    cast(rank_in_metric as {{ dbt.type_bigint() }}) as rank_in_metric,
    cast(case
        when type_gap_units > 0 then gap_units / cast(type_gap_units as {{ type_double() }})
    end as {{ type_double() }}) as share_of_type_gap,
    cast(is_provisional as {{ dbt.type_boolean() }}) as is_provisional
from ranked
