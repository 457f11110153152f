-- The additive metrics summed per day, segment, channel and trigger type
-- (channel is set for self-service adoption's interactions only, trigger
-- type for CSAT responses only, both empty otherwise). numerator_sq sums the
-- squared contributions (a mean's variance, for the alerts). Each record is
-- segmented by its account's attributes on its reference date, which
-- int_metric_records carries; a record with no known account counts in `all`
-- and in `unknown` of every account-based segment type. Coarser periods are
-- sums of these days.
--
-- Incremental (delete+insert by reference_date; a table on Spark;
-- docs/incremental.md): a scheduled run recomputes whole the days of the
-- records int_metric_records wrote since this table's last run, and the days
-- whose record count differs from the stored one (a record dropped, or moved
-- to another day); a post-hook removes the rows of days left with no record.
{{ config(**cx_incremental_config(
    'delete+insert', unique_key='reference_date',
    post_hook="{{ metric_daily_retire_emptied_days() }}")) }}
{%- set days = metric_daily_days_to_compute() %}

with records as (
    select
        metric_name,
        reference_date,
        contact_reason,
        channel,
        trigger_type,
        numerator,
        denominator,
        account_class,
        rate_code,
        service_area,
        age_band
    from {{ ref('int_metric_records') }}
    {%- if days is not none %}
    where {{ metric_days_condition('reference_date', days) }}
    {%- endif %}
),

segmented as (
    select
        records.metric_name,
        records.reference_date,
        segment_types.segment_type,
        {{ segment_value('segment_types.segment_type', 'records') }} as segment_value,
        records.channel,
        records.trigger_type,
        records.numerator,
        records.denominator
    from records
    cross join {{ ref('segment_types') }} as segment_types
    where segment_types.segment_type <> 'contact_reason' or records.contact_reason is not null
)

select
    metric_name,
    reference_date,
    segment_type,
    segment_value,
    channel,
    trigger_type,
    sum(numerator) as numerator,
    sum(numerator * numerator) as numerator_sq,
    sum(denominator) as denominator,
    count(*) as record_count,
    {{ cx_loaded_at() }} as loaded_at
from segmented
group by metric_name, reference_date, segment_type, segment_value, channel, trigger_type
