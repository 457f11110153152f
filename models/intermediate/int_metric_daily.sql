-- The additive metrics summed per day, segment, channel and trigger type
-- (channel is set for self-service adoption's interactions only, trigger
-- type for CSAT responses only, both empty otherwise). numerator_sq sums the
-- squared contributions (a mean's variance, for the alerts). Each record is
-- segmented by the account it is attributed to (age band on its reference
-- date); a record with no known account counts in `all` and in `unknown` of
-- every account-based segment type. Coarser periods are sums of these days.
with records as (
    select
        records.metric_name,
        records.reference_date,
        records.contact_reason,
        records.channel,
        records.trigger_type,
        records.numerator,
        records.denominator,
        {{ account_segment_attributes('accounts', 'records.reference_date') }}
    from {{ ref('int_metric_records') }} as records
    left join {{ ref('int_accounts') }} as accounts on records.account_id = accounts.account_id
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
    sum(denominator) as denominator
from segmented
group by metric_name, reference_date, segment_type, segment_value, channel, trigger_type
