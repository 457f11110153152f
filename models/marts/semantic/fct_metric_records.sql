-- The semantic layer's entity-grain facts: one row per record of the
-- additive metrics (survey response, ticket, self-service interaction, bill,
-- agent-handled call, contact), with the segment attributes of its account
-- on its reference date ('unknown' for a record with no known account, age
-- band n/a for non-residential accounts; int_metric_records carries them) and
-- one numerator / denominator column pair per metric, 0 on other metrics'
-- records, so that every MetricFlow measure is an unfiltered sum.
--
-- Incremental (delete+insert by record_key; a table on Spark;
-- docs/incremental.md): a scheduled run writes the records int_metric_records
-- wrote since this table's last run; a post-hook removes the records it no
-- longer holds. loaded_at stays in the working state: the publish leaves it out.
{{ config(**cx_incremental_config(
    'delete+insert', unique_key='record_key',
    post_hook="{{ cx_retire_dropped(ref('int_metric_records'), ['metric_name', 'record_id']) }}")) }}
{%- set plan = cx_change_plan(none, none) %}

with records as (
    select *
    from {{ ref('int_metric_records') }}
    {%- if plan %}
    where loaded_at > cast('{{ plan.watermark }}' as {{ dbt.type_timestamp() }})
    {%- endif %}
)

{%- set metric_columns = [
    ('csat', 'csat'), ('first_contact_resolution', 'fcr'), ('self_service_adoption', 'self_service'),
    ('bill_accuracy', 'bill_accuracy'), ('average_handle_time', 'handle_time'), ('inbound_contact_rate', 'inbound_contact')
] %}

select
    cast({{ dbt.concat(['records.metric_name', "':'", 'records.record_id']) }} as {{ type_varchar() }}) as record_key,
    cast(records.metric_name as {{ type_varchar() }}) as metric_name,
    cast(records.record_id as {{ type_varchar() }}) as record_id,
    cast(records.reference_date as date) as reference_date,
    cast({{ segment_key('records') }} as {{ type_varchar() }}) as segment_key,
    cast(coalesce(records.account_class, 'unknown') as {{ type_varchar() }}) as account_class,
    cast(coalesce(records.rate_code, 'unknown') as {{ type_varchar() }}) as rate_code,
    cast(coalesce(records.service_area, 'unknown') as {{ type_varchar() }}) as service_area,
    cast(coalesce(records.age_band, 'unknown') as {{ type_varchar() }}) as age_band,
    cast(coalesce(records.contact_reason, 'n/a') as {{ type_varchar() }}) as contact_reason,
    cast(coalesce(records.channel, 'n/a') as {{ type_varchar() }}) as channel,
    {%- for metric, prefix in metric_columns %}
    cast(case when records.metric_name = '{{ metric }}' then records.numerator else 0 end as {{ type_double() }}) as {{ prefix }}_numerator,
    cast(case when records.metric_name = '{{ metric }}' then records.denominator else 0 end as {{ dbt.type_bigint() }}) as {{ prefix }}_denominator,
    {%- endfor %}
    cast(coalesce(records.trigger_type, 'n/a') as {{ type_varchar() }}) as trigger_type,
    {{ cx_loaded_at() }} as loaded_at
from records
