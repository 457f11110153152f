-- Every SQL string literal the project writes reads back as the value it was
-- made from, on every engine (macros/cross_db/escape_string.sql, DECISIONLOG
-- 134): a quote, a backslash, an empty value, and one list holding a value
-- with cx_string_rows' separator inside it, which makes that list escape its
-- values one by one. The expected values are built from character codes, not
-- from literals. Fails with every value that does not read back.
{%- set quote, backslash = "'", "\\" %}
{%- set separator = cx_string_rows_separator() %}
{%- set joined_rows = [['quote', 'it' ~ quote ~ 's'], ['backslash', 'a' ~ backslash ~ 'b'], ['empty', '']] %}
{%- set one_by_one_rows = [['separator', 'a' ~ separator ~ 'b' ~ quote], ['plain', 'x' ~ quote ~ quote]] %}
with rendered as (
    select
        probes.probe,
        probes.rendered_value
    from (
        values
        {{ cx_string_rows(joined_rows) }},
        {{ cx_string_rows(one_by_one_rows) }}
    ) as probes (probe, rendered_value)
),

expected as (
    select 'quote' as probe, {{ dbt.concat(["'it'", 'chr(39)', "'s'"]) }} as expected_value
    union all
    select 'backslash' as probe, {{ dbt.concat(["'a'", 'chr(92)', "'b'"]) }} as expected_value
    union all
    select 'empty' as probe, {{ dbt.concat(["''", "''"]) }} as expected_value
    union all
    select
        'separator' as probe,
        {{ dbt.concat(["'a'", 'chr(31)', 'chr(30)', "'cx'", 'chr(30)', 'chr(31)', "'b'", 'chr(39)']) }} as expected_value
    union all
    select 'plain' as probe, {{ dbt.concat(["'x'", 'chr(39)', 'chr(39)']) }} as expected_value
)

select
    expected.probe,
    expected.expected_value,
    rendered.rendered_value
from expected
left join rendered on expected.probe = rendered.probe
where rendered.rendered_value is null or rendered.rendered_value <> expected.expected_value
