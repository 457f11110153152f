{#-
  The read-only reporting role (var reporting_role, default cx_reporting) on
  PostgreSQL: BI tools connect as a member of it. It may select every mart
  (schema marts) and the reference seeds (schema reference: metric targets),
  and nothing else: no staging, intermediate, cis (personal data), test
  log or stored test failures.
    - on-run-start (reporting_role_setup): create the role if it does not
      exist (NOLOGIN: grant it to the BI login roles), usage on marts and
      reference.
    - each mart: dbt's grants config (dbt_project.yml, marts folder) gives
      select on the table dbt has just (re)created, so a rebuilt table is
      readable at once.
    - on-run-end (grant_reporting_access): select on every table and view of
      marts and reference (what the grants config does not cover: seeds), and
      every privilege on the project's other schemas revoked, so that the run leaves
      exactly this, whatever was granted before. Idempotent.
  On other engines both are no-ops.
-#}
{% macro reporting_role() -%}
    {{ return(var('reporting_role', 'cx_reporting')) }}
{%- endmacro %}

{% macro reporting_schemas() -%}
    {{ return(['marts', 'reference']) }}
{%- endmacro %}

{% macro reporting_role_setup() -%}
    {%- if execute and flags.WHICH in ['build', 'run', 'seed', 'snapshot'] -%}
        {{ return(adapter.dispatch('reporting_role_setup', 'cx_warehouse')()) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro default__reporting_role_setup() -%}
    {{ return('') }}
{%- endmacro %}

{% macro postgres__reporting_role_setup() -%}
    {%- set role = reporting_role() -%}
    {%- set sql -%}
        do $$
        begin
            if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
                create role {{ adapter.quote(role) }} nologin;
            end if;
        end
        $$;
        {%- for s in reporting_schemas() %}
        create schema if not exists {{ s }};
        grant usage on schema {{ s }} to {{ adapter.quote(role) }};
        {%- endfor %}
    {%- endset -%}
    {{ return(sql) }}
{%- endmacro %}

{% macro grant_reporting_access() -%}
    {%- if execute and flags.WHICH in ['build', 'run', 'seed', 'snapshot'] -%}
        {{ return(adapter.dispatch('grant_reporting_access', 'cx_warehouse')()) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro default__grant_reporting_access() -%}
    {{ return('') }}
{%- endmacro %}

{% macro postgres__grant_reporting_access() -%}
    {%- set role = adapter.quote(reporting_role()) -%}
    {#- the project's other schemas: where its nodes, sources, test log and stored failures live -#}
    {%- set others = ['cis', 'dq_runtime', target.schema] -%}
    {%- for node in graph.nodes.values() | list + graph.sources.values() | list -%}
        {%- if node.schema and node.schema not in others -%}{%- do others.append(node.schema) -%}{%- endif -%}
    {%- endfor -%}
    {%- set others = others | reject('in', reporting_schemas()) | list -%}
    {%- set existing -%}
        select nspname from pg_namespace
        where nspname in ({% for s in others %}'{{ s }}'{{ ", " if not loop.last }}{% endfor %})
        order by nspname
    {%- endset -%}
    {%- set sql -%}
        {%- for s in reporting_schemas() %}
        grant usage on schema {{ s }} to {{ role }};
        grant select on all tables in schema {{ s }} to {{ role }};
        {%- endfor %}
        {%- for row in run_query(existing).rows %}
        revoke all on all tables in schema {{ adapter.quote(row[0]) }} from {{ role }};
        revoke all on schema {{ adapter.quote(row[0]) }} from {{ role }};
        {%- endfor %}
    {%- endset -%}
    {{ return(sql) }}
{%- endmacro %}
