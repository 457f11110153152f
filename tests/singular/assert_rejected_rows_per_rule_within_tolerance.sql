-- Fails for every rule that rejects more of an export's staged rows than
-- the tolerance: the larger of var rejected_share_max (5%) of the rows and
-- var rejected_rows_tolerated (2) rows, but never var rejected_share_never
-- (half) of them. Staging rejects bad rows one by one and the build passes
-- (a few bad rows must not block a refresh); a broken extract (a renamed
-- domain value, a column that no longer parses) must not be published.
-- The rules are the contract's (cis_contract_rules over _cis__sources.yml,
-- the list staging checks), plus the three staging finds in the file itself
-- (cis_rejection_reasons): a key conflict, a stray quote, a malformed record.
-- With var test_scope 'batch' only the batch's rows (written since the last published run) are counted.
{%- set exports = cis_export_names() %}
{%- set batch = cx_test_scope() == 'batch' %}
{%- set reasons_of = {} %}
{%- for name in exports %}
{%- do reasons_of.update({name: cis_rejection_reasons(graph.sources['source.cx_warehouse.cis.' ~ name]) if execute else []}) %}
{%- endfor %}
with
{%- for name in exports %}
{%- set staged = ref('stg_cis__' ~ name[4:]) %}
{%- set reasons = reasons_of[name] %}
staged_{{ name }} as (
    select
        reject_reason,
        source_line,
        is_rejected
    from {{ staged }}
    {%- if batch %}
    where {{ cx_batch_condition(staged) }}
    {%- endif %}
),

rules_{{ name }} as (
    {%- for reason in reasons %}
    select '{{ cx_escape_string(reason) }}' as rule_reason{{ " union all" if not loop.last }}
    {%- endfor %}
    {%- if not reasons %}
    select cast(null as {{ dbt.type_string() }}) as rule_reason
    {%- endif %}
),

rejected_{{ name }} as (
    select
        '{{ name }}' as source_file,
        rules.rule_reason,
        count(*) as rejected_rows
    from staged_{{ name }} as staged
    inner join rules_{{ name }} as rules
        on
            case
                when rules.rule_reason = 'malformed CSV record' then staged.source_line is not null
                else {{ dbt.position("'; ' || rules.rule_reason || ';'", "'; ' || staged.reject_reason || ';'") }} > 0
            end
    where staged.is_rejected
    group by rules.rule_reason
),

totals_{{ name }} as (
    select
        '{{ name }}' as source_file,
        count(*) as staged_rows
    from staged_{{ name }}
),
{%- endfor %}

rule_counts as (
    {%- for name in exports %}
    select
        rejected.source_file,
        rejected.rule_reason,
        rejected.rejected_rows,
        totals.staged_rows
    from rejected_{{ name }} as rejected
    inner join totals_{{ name }} as totals on rejected.source_file = totals.source_file
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
