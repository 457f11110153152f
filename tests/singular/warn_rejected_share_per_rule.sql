-- Warns for every contract rule that rejects more than var
-- rejected_share_warn of an export's staged rows: one rule rejecting a large
-- share (a renamed domain value, a new date format) is an extract problem to
-- raise with the CIS team, not a few bad records. The rules are the
-- contract's (cis_contract_rules over _cis__sources.yml, the list staging
-- checks), so a rule added to the contract is counted without a new test.
-- With var test_scope 'batch' only the rows the latest run wrote are counted.
{{ config(severity='warn') }}
{%- set exports = cis_export_names() %}
{%- set batch = cx_test_scope() == 'batch' %}
{%- set rules_of = {} %}
{%- for name in exports %}
    {%- do rules_of.update({name: cis_contract_rules(graph.sources['source.cx_warehouse.cis.' ~ name]) if execute else []}) %}
{%- endfor %}
with
{%- for name in exports %}
{%- set staged = ref('stg_cis__' ~ name[4:]) %}
counts_{{ name }} as (
    select
        count(*) as staged_rows
        {%- for rule in rules_of[name] %},
        sum(case when {{ dbt.position("'; " ~ cx_escape_string(rule.reason) ~ ";'", "'; ' || reject_reason || ';'") }} > 0
            then 1 else 0 end) as rule_{{ loop.index }}
        {%- endfor %}
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
    {%- for rule in rules_of[name] %}
    union all
    select '{{ name }}', '{{ cx_escape_string(rule.reason) }}', rule_{{ loop.index }}, staged_rows
    from counts_{{ name }}
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select
    source_file,
    rule_reason,
    rejected_rows,
    staged_rows,
    1.0 * rejected_rows / staged_rows as rejected_share
from rule_counts
where staged_rows > 0 and 1.0 * rejected_rows / staged_rows > {{ var('rejected_share_warn') }}
