{#- A log of every test result of every dbt invocation, so the dashboard can
    show data health over time. on-run-start makes sure the table exists;
    on-run-end appends one row per data or unit test that ran. The marts
    dq_test_results and dq_test_run_summary are views over it. -#}
{% macro test_results_relation() -%}
    {{ return(api.Relation.create(database=target.get('database'), schema='dq_runtime', identifier='test_results')) }}
{%- endmacro %}

{#- The runs whose marts `make run` published (run_started_at: their batch
    stamp), written by the publish step (cx_warehouse/publish.py,
    record_published_run); batch-scoped tests read the rows stamped since the
    last of them (cx_batch_condition). Empty where nothing publishes (dbt
    alone, PostgreSQL, Spark). -#}
{% macro published_runs_relation() -%}
    {{ return(api.Relation.create(database=target.get('database'), schema='dq_runtime', identifier='published_runs')) }}
{%- endmacro %}

{% macro create_test_results_log() %}
    {{ return(adapter.dispatch('create_test_results_log', 'cx_warehouse')()) }}
{% endmacro %}

{% macro default__create_test_results_log() %}
    {%- set rel = test_results_relation() -%}
    create schema if not exists {{ rel.schema }};
    create table if not exists {{ rel }} (
        invocation_id {{ dbt.type_string() }},
        run_started_at {{ dbt.type_timestamp() }},
        test_unique_id {{ dbt.type_string() }},
        test_name {{ dbt.type_string() }},
        test_type {{ dbt.type_string() }},
        tested_node {{ dbt.type_string() }},
        severity {{ dbt.type_string() }},
        status {{ dbt.type_string() }},
        failing_rows {{ dbt.type_bigint() }},
        message {{ dbt.type_string() }},
        execution_seconds {{ type_double() }}
    );
    create table if not exists {{ published_runs_relation() }} (
        run_started_at {{ dbt.type_timestamp() }},
        published_at {{ dbt.type_timestamp() }}
    )
{% endmacro %}

{% macro store_test_results(results) %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set rows = [] -%}
    {%- for res in results if res.node.resource_type in ('test', 'unit_test') -%}
        {%- set node = res.node -%}
        {%- set tested = node.attached_node if node.attached_node is defined and node.attached_node else (node.depends_on.nodes[0] if node.depends_on.nodes else '') -%}
        {%- set severity = node.config.severity if node.config.severity is defined else '' -%}
        {%- set msg = cx_escape_string(((res.message or '') | string)[:1000]) -%}
        {%- do rows.append("('" ~ invocation_id ~ "', cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S') ~ "' as " ~ dbt.type_timestamp() ~ "), '"
            ~ node.unique_id ~ "', '" ~ node.name ~ "', '" ~ node.resource_type ~ "', '" ~ tested ~ "', '" ~ (severity | lower) ~ "', '"
            ~ res.status ~ "', " ~ (res.failures if res.failures is not none else 'null') ~ ", '" ~ msg ~ "', " ~ (res.execution_time or 0) ~ ")") -%}
    {%- endfor -%}
    {%- if rows | length == 0 -%}{{ return('') }}{%- endif -%}
    insert into {{ test_results_relation() }} values
    {{ rows | join(',\n    ') }}
{% endmacro %}
