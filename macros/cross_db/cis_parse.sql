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

{% macro duckdb__cis_parse(cis_type, expr) -%}
    {%- if cis_type == 'text' -%}{{ expr }}
    {%- else -%}
    case when regexp_full_match({{ expr }}, '{{ cis_type_pattern(cis_type) }}') then try_cast({{ expr }} as {{ cis_type_sql(cis_type) }}) end
    {%- endif -%}
{%- endmacro %}

{#- PostgreSQL 16+: pg_input_is_valid rejects impossible dates such as 2024-02-30. -#}
{% macro postgres__cis_parse(cis_type, expr) -%}
    {%- if cis_type == 'text' -%}{{ expr }}
    {%- else -%}
    case when {{ expr }} ~ '^({{ cis_type_pattern(cis_type) }})$'
        and pg_input_is_valid({{ expr }}, '{{ cis_type_sql(cis_type) }}')
        then cast({{ expr }} as {{ cis_type_sql(cis_type) }}) end
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
