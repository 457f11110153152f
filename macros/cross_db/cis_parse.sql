{#- Strictly parse one raw text value as a contract type; NULL when it does not parse.
    "Strict" means the exact contract format: dates YYYY-MM-DD, timestamps
    YYYY-MM-DD HH:MM:SS, booleans true/false, decimals with a '.' separator. -#}
{% macro cis_parse(cis_type, expr) -%}
    {{ return(adapter.dispatch('cis_parse', 'cx_warehouse')(cis_type, expr)) }}
{%- endmacro %}

{% macro cis_type_sql(cis_type) -%}
    {%- if cis_type == 'date' -%}date
    {%- elif cis_type == 'timestamp' -%}{{ dbt.type_timestamp() }}
    {%- elif cis_type == 'decimal' -%}decimal(18, 4)
    {%- elif cis_type == 'integer' -%}{{ dbt.type_bigint() }}
    {%- elif cis_type == 'boolean' -%}{{ dbt.type_boolean() }}
    {%- else -%}{{ dbt.type_string() }}
    {%- endif -%}
{%- endmacro %}

{% macro cis_type_pattern(cis_type) -%}
    {%- if cis_type == 'date' -%}[0-9]{4}-[0-9]{2}-[0-9]{2}
    {%- elif cis_type == 'timestamp' -%}[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}
    {%- elif cis_type == 'decimal' -%}-?[0-9]+([.][0-9]+)?
    {%- elif cis_type == 'integer' -%}-?[0-9]+
    {%- elif cis_type == 'boolean' -%}true|false
    {%- endif -%}
{%- endmacro %}

{#- dates and timestamps are checked with GLOB, a third cheaper than a regular
    expression on a feed of hundreds of millions of reads, and the same test -#}
{% macro duckdb__cis_parse(cis_type, expr) -%}
    {%- if cis_type == 'text' -%}{{ expr }}
    {%- elif cis_type in ('date', 'timestamp') -%}
    {%- set d = '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' -%}
    case when {{ expr }} glob '{{ d if cis_type == 'date' else d ~ ' [0-9][0-9]:[0-9][0-9]:[0-9][0-9]' }}' then try_cast({{ expr }} as {{ cis_type_sql(cis_type) }}) end
    {%- else -%}
    case when regexp_full_match({{ expr }}, '{{ cis_type_pattern(cis_type) }}') then try_cast({{ expr }} as {{ cis_type_sql(cis_type) }}) end
    {%- endif -%}
{%- endmacro %}

{#- PostgreSQL (15: no pg_input_is_valid): the pattern, then range checks that
    keep the cast from raising (impossible dates such as 2024-02-30, hours past
    24:00:00, decimal(18, 4) and bigint overflow), nested so that they run in order.
    Year 0000 (1 BC on DuckDB) does not parse here. -#}
{% macro postgres__cis_parse(cis_type, expr) -%}
    {%- if cis_type == 'text' -%}{{ expr }}
    {%- else -%}
    case when {{ expr }} ~ '^({{ cis_type_pattern(cis_type) }})$' then
        case when {{ postgres__cis_value_in_range(cis_type, expr) }}
            then cast({{ expr }} as {{ cis_type_sql(cis_type) }}) end
    end
    {%- endif -%}
{%- endmacro %}

{% macro postgres__cis_value_in_range(cis_type, expr) -%}
    {%- if cis_type in ('date', 'timestamp') -%}
    {%- set y = 'cast(substr(' ~ expr ~ ', 1, 4) as integer)' -%}
    substr({{ expr }}, 1, 4) <> '0000'
            and substr({{ expr }}, 6, 2) between '01' and '12'
            and substr({{ expr }}, 9, 2) between '01' and case
                when substr({{ expr }}, 6, 2) in ('04', '06', '09', '11') then '30'
                when substr({{ expr }}, 6, 2) <> '02' then '31'
                when mod({{ y }}, 4) = 0 and (mod({{ y }}, 100) <> 0 or mod({{ y }}, 400) = 0) then '29'
                else '28'
            end
        {%- if cis_type == 'timestamp' %}
            and (substr({{ expr }}, 12, 8) = '24:00:00' or (substr({{ expr }}, 12, 2) <= '23'
                and substr({{ expr }}, 15, 2) <= '59' and substr({{ expr }}, 18, 2) <= '59'))
        {%- endif -%}
    {%- elif cis_type == 'decimal' -%}
    abs(round(cast({{ expr }} as numeric), 4)) < 100000000000000
    {%- elif cis_type == 'integer' -%}
    cast({{ expr }} as numeric) between -9223372036854775808 and 9223372036854775807
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{% macro spark__cis_parse(cis_type, expr) -%}
    {%- if cis_type == 'text' -%}{{ expr }}
    {%- else -%}
    case when {{ expr }} rlike '^({{ cis_type_pattern(cis_type) }})$' then try_cast({{ expr }} as {{ cis_type_sql(cis_type) }}) end
    {%- endif -%}
{%- endmacro %}

{#- A text value holding a NUL byte (a broken extract; PostgreSQL text cannot hold one at all). -#}
{% macro cis_contains_nul(expr) -%}
    {{ return(adapter.dispatch('cis_contains_nul', 'cx_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__cis_contains_nul(expr) -%}
    false
{%- endmacro %}

{% macro duckdb__cis_contains_nul(expr) -%}
    coalesce(strpos({{ expr }}, chr(0)) > 0, false)
{%- endmacro %}

{% macro spark__cis_contains_nul(expr) -%}
    coalesce(instr({{ expr }}, char(0)) > 0, false)
{%- endmacro %}

{#- A CTE read more than once that the engine should inline rather than
    materialise (DuckDB materialises such CTEs by default; for a feed of
    hundreds of millions of rows re-reading the files is far cheaper). -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__cte_not_materialized() -%}
{%- endmacro %}

{% macro duckdb__cte_not_materialized() -%}
    not materialized
{%- endmacro %}

{#- A hash of key columns (text), for finding keys held by several rows; NULL
    and '' hash alike, which only sends rows down the exact path. -#}
{% macro cis_key_hash(columns, prefix='') -%}
    {{ return(adapter.dispatch('cis_key_hash', 'cx_warehouse')(columns, prefix)) }}
{%- endmacro %}

{% macro default__cis_key_hash(columns, prefix='') -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(" ~ prefix ~ c ~ ", '')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{% macro duckdb__cis_key_hash(columns, prefix='') -%}
    hash({% for c in columns %}{{ prefix ~ c }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{% macro spark__cis_key_hash(columns, prefix='') -%}
    xxhash64({% for c in columns %}{{ prefix ~ c }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{#- A 64-bit hash of typed columns (any type), for cheap candidate searches:
    equal values hash alike, so an exact check restricted to the hashes
    held more than once finds every duplicate. -#}
{% macro row_hash(columns) -%}
    {{ return(adapter.dispatch('row_hash', 'cx_warehouse')(columns)) }}
{%- endmacro %}

{% macro default__row_hash(columns) -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(cast(" ~ c ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- md5 of the values, each written as its length, ':' and its text (null as
    'n', so null and '' differ and no two rows of values write alike), its
    first 64 bits read as a bigint (summable) -#}
{% macro postgres__row_hash(columns) -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(length(cast(" ~ c ~ " as text)) || ':' || cast(" ~ c ~ " as text), 'n')") -%}
    {%- endfor -%}
    cast(cast('x' || substr(md5({{ parts | join(" || '|' || ") }}), 1, 16) as bit(64)) as bigint)
{%- endmacro %}

{% macro duckdb__row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__row_hash(columns) -%}
    xxhash64({{ columns | join(', ') }})
{%- endmacro %}
