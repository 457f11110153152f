-- Fails for every rule that rejects more of an export's staged rows than
-- the tolerance: the larger of var rejected_share_max (5%) of the rows and
-- var rejected_rows_tolerated (2) rows, but never var rejected_share_never
-- (half) of them. Staging rejects bad rows one by one and the build passes
-- (a few bad rows must not block a refresh); a broken extract (a renamed
-- domain value, a column that no longer parses) must not be published.
-- The rules are the contract's (cis_contract_rules over _cis__sources.yml,
-- the list staging checks), plus the three staging finds in the file itself
-- (cis_rejection_checks): a key conflict, a stray quote, a malformed record.
-- With var test_scope 'batch' only the rows the latest run wrote are counted.
{%- set exports = cis_export_names() %}
{%- set batch = cx_test_scope() == 'batch' %}
{%- set checks_of = {} %}
{%- for name in exports %}
{%- do checks_of.update({name: cis_rejection_checks(graph.sources['source.cx_warehouse.cis.' ~ name]) if execute else []}) %}
{%- endfor %}
with
{%- for name in exports %}
{%- set staged = ref('stg_cis__' ~ name[4:]) %}
counts_{{ name }} as (
    select
        {%- for check in checks_of[name] %}
        sum(case when {{ check.when }} then 1 else 0 end) as rule_{{ loop.index }},
        {%- endfor %}
        count(*) as staged_rows
    from {{ staged }}
    {%- if batch %}
    where {{ cx_batch_condition(staged) }}
    {%- endif %}
),
{%- endfor %}

rule_counts as (
    {%- for name in exports %}
    select
        '{{ name }}' as source_file,
        cast(null as {{ dbt.type_string() }}) as rule_reason,
        0 as rejected_rows,
        staged_rows
    from counts_{{ name }}
    {%- for check in checks_of[name] %}
    union all
    select '{{ name }}', '{{ cx_escape_string(check.rule) }}', rule_{{ loop.index }}, staged_rows
    from counts_{{ name }}
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

tolerated as (
    select
        source_file,
        rule_reason,
        rejected_rows,
        staged_rows,
        case
            when floor({{ var('rejected_share_max') }} * staged_rows) > {{ var('rejected_rows_tolerated') }}
                then floor({{ var('rejected_share_max') }} * staged_rows)
            else {{ var('rejected_rows_tolerated') }}
        end as tolerated_rows,
        floor({{ var('rejected_share_never') }} * staged_rows) as never_tolerated_rows
    from rule_counts
)

select
    source_file,
    rule_reason,
    rejected_rows,
    staged_rows,
    case when tolerated_rows < never_tolerated_rows then tolerated_rows else never_tolerated_rows end as tolerated_rows
from tolerated
where rejected_rows > tolerated_rows or rejected_rows > never_tolerated_rows
