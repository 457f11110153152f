{#- Kept rows whose reference points at no kept row of `to` (orphans).
    Orphans are kept, never rejected: this test warns and lists them (one row
    per orphan value); orphan_share_within turns it into an error above a share. -#}
{% test references_known(model, column_name, to, field) %}
{{ config(severity='warn') }}
with child as (
    select {{ column_name }} as reference_value
    from {{ model }}
    where is_in_force and {{ column_name }} is not null
),

parent as (
    select distinct {{ field }} as reference_value
    from {{ to }}
    where is_in_force
)

select child.reference_value as orphan_value, count(*) as orphan_rows
from child
left join parent on child.reference_value = parent.reference_value
where parent.reference_value is null
group by child.reference_value
{% endtest %}

{#- Fails (error) when the share of kept rows with an orphan reference exceeds
    `max_share` (default var orphan_error_share): one stray row must not block
    a daily refresh, a broken extract must. -#}
{% test orphan_share_within(model, column_name, to, field, max_share=none) %}
{%- set threshold = max_share if max_share is not none else var('orphan_error_share') -%}
with child as (
    select {{ column_name }} as reference_value
    from {{ model }}
    where is_in_force
),

parent as (
    select distinct {{ field }} as reference_value
    from {{ to }}
    where is_in_force
),

shares as (
    select
        count(*) as kept_rows,
        sum(case when child.reference_value is not null and parent.reference_value is null then 1 else 0 end) as orphan_rows
    from child
    left join parent on child.reference_value = parent.reference_value
)

select kept_rows, orphan_rows, 1.0 * orphan_rows / kept_rows as orphan_share, {{ threshold }} as max_share
from shares
where kept_rows > 0 and 1.0 * orphan_rows / kept_rows > {{ threshold }}
{% endtest %}
