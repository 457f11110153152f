-- The semantic layer's entity-grain facts: one row per record of the
-- additive metrics (survey response, ticket, self-service interaction, bill,
-- agent-handled call, contact), with the segment attributes of its account
-- on its reference date ('unknown' for a record with no known account, age
-- band n/a for non-residential accounts) and one numerator / denominator
-- column pair per metric, 0 on other metrics' records, so that every
-- MetricFlow measure is an unfiltered sum.
with records as (
    select
        records.*,
        {{ account_segment_attributes('accounts', 'records.reference_date') }}
    from {{ ref('int_metric_records') }} as records
    left join {{ ref('int_accounts') }} as accounts on records.account_id = accounts.account_id
)

{%- set metric_columns = [
    ('csat', 'csat'), ('first_contact_resolution', 'fcr'), ('self_service_adoption', 'self_service'),
    ('bill_accuracy', 'bill_accuracy'), ('average_handle_time', 'handle_time'), ('inbound_contact_rate', 'inbound_contact')
] %}

select
    cast({{ dbt.concat(['records.metric_name', "':'", 'records.record_id']) }} as {{ dbt.type_string() }}) as record_key,
    cast(records.metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(records.record_id as {{ dbt.type_string() }}) as record_id,
    cast(records.reference_date as date) as reference_date,
    {{ segment_key('records') }} as segment_key,
    cast(coalesce(records.account_class, 'unknown') as {{ dbt.type_string() }}) as account_class,
    cast(coalesce(records.rate_code, 'unknown') as {{ dbt.type_string() }}) as rate_code,
    cast(coalesce(records.service_area, 'unknown') as {{ dbt.type_string() }}) as service_area,
    cast(coalesce(records.age_band, 'unknown') as {{ dbt.type_string() }}) as age_band,
    cast(coalesce(records.contact_reason, 'n/a') as {{ dbt.type_string() }}) as contact_reason,
    cast(coalesce(records.channel, 'n/a') as {{ dbt.type_string() }}) as channel,
    {%- for metric, prefix in metric_columns %}
    cast(case when records.metric_name = '{{ metric }}' then records.numerator else 0 end as {{ type_double() }}) as {{ prefix }}_numerator,
    cast(case when records.metric_name = '{{ metric }}' then records.denominator else 0 end as {{ dbt.type_bigint() }}) as {{ prefix }}_denominator,
    {%- endfor %}
    cast(coalesce(records.trigger_type, 'n/a') as {{ dbt.type_string() }}) as trigger_type
from records
