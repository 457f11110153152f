{#- The survey hand-off's ledger (cx_warehouse/handoff.py) is an input of the
    warehouse, as an export is: at the start of every run (on-run-start) its
    two tables are copied into source `handoff` (batches, handed_off), and
    the marts read them from there (stg_handoff__*). The ledger is the DuckDB
    file that CX_HANDOFF_LEDGER names; `make run` points it at the file
    beside the published warehouse (`<name>.survey-handoffs.duckdb`). No
    ledger file yet (no hand-off so far): the tables are empty. No
    CX_HANDOFF_LEDGER (`dbt build` called alone): the tables keep what the
    last run copied. The hand-off runs on DuckDB only; on the other engines
    the tables exist and stay empty. -#}
{% macro load_handoff_ledger() %}
    {{ return(adapter.dispatch('load_handoff_ledger', 'cx_warehouse')()) }}
{% endmacro %}

{#- The ledger tables' columns and types, as the hand-off writes them. -#}
{% macro handoff_ledger_columns(table) %}
    {%- set columns = {
        'batches': [('batch_id', dbt.type_string()), ('created_at', dbt.type_timestamp()), ('as_of_date', 'date'),
                    ('row_count', dbt.type_bigint()), ('sha256', dbt.type_string()), ('file_name', dbt.type_string())],
        'handed_off': [('trigger_type', dbt.type_string()), ('trigger_id', dbt.type_string()),
                       ('batch_id', dbt.type_string())],
    } -%}
    {{ return(columns[table]) }}
{% endmacro %}

{% macro default__load_handoff_ledger() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- do run_query('create schema if not exists handoff') -%}
    {%- for table in ['batches', 'handed_off'] -%}
        {%- set sql -%}
            create table if not exists handoff.{{ table }} (
                {%- for name, type in handoff_ledger_columns(table) %}
                {{ name }} {{ type }}{{ "," if not loop.last }}
                {%- endfor %}
            ){{ cis_table_format() }}
        {%- endset -%}
        {%- do run_query(sql) -%}
    {%- endfor -%}
    {{ return('') }}
{% endmacro %}

{% macro duckdb__load_handoff_ledger() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set path = env_var('CX_HANDOFF_LEDGER', '') -%}
    {%- if not path -%}{{ return(default__load_handoff_ledger()) }}{%- endif -%}
    {%- set exists = run_query('select count(*) from glob(' ~ cx_string_literals([path]) ~ ')').columns[0].values()[0] > 0 -%}
    {%- do run_query('create schema if not exists handoff') -%}
    {%- if exists -%}
        {%- do run_query('attach ' ~ cx_string_literals([path]) ~ ' as cx_handoff_ledger (read_only)') -%}
    {%- endif -%}
    {%- for table in ['batches', 'handed_off'] -%}
        {%- set columns = handoff_ledger_columns(table) -%}
        {%- set sql -%}
            create or replace table handoff.{{ table }} as
            select
                {%- for name, type in columns %}
                cast({{ name if exists else 'null' }} as {{ type }}) as {{ name }}{{ "," if not loop.last }}
                {%- endfor %}
            {%- if exists %}
            from cx_handoff_ledger.main.{{ table }}
            {%- else %}
            where 1 = 0
            {%- endif %}
        {%- endset -%}
        {%- do run_query(sql) -%}
    {%- endfor -%}
    {%- if exists -%}
        {%- do run_query('detach cx_handoff_ledger') -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
