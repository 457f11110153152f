{#-
  Test scope for large incremental models (docs/scheduling.md, "Test scope").

  Every generic test reads its model through get_where_subquery (dbt's hook
  for the `where` config). A test whose config has `meta: {batch_scoped:
  true}` reads, when var('test_scope') is 'batch', only the rows written since
  the last published run (cx_batch_condition): the new deliveries and
  whatever the runs since recomputed, a failed run's rows included, so its
  retry tests them again. On a full build every row is in
  the batch, so the scope only narrows scheduled incremental runs; the
  monthly cadence runs with test_scope 'full' and reads every row.
  Only row-level checks and checks of the new data itself are batch scoped;
  what holds across batches is kept by the model's own logic (supersede,
  recompute by day) and re-checked whole at the monthly cadence.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set meta = config.get('meta', {}) or {} -%}
    {%- set conditions = [] -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- if meta.get('batch_scoped') and cx_test_scope() == 'batch' -%}
        {%- do conditions.append(cx_batch_condition(relation)) -%}
    {%- endif -%}
    {#- the alias keeps Spark from reading `where (...)` as a table alias -#}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} as dbt_where_source where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- Tests with meta batch_scoped (on the big incremental models) read only the
    rows written since the last published run (cx_batch_condition) when the
    scope is 'batch'; 'full' reads every row.
    `make run` sets 'batch' on scheduled incremental runs, 'full' on a full
    build and at the monthly cadence (docs/scheduling.md, "Test scope"):
    var test_scope, else $CX_TEST_SCOPE, else 'full'. -#}
{% macro cx_test_scope() -%}
    {%- set scope = var('test_scope', env_var('CX_TEST_SCOPE', 'full')) -%}
    {%- if scope not in ['full', 'batch'] -%}
        {{ exceptions.raise_compiler_error("var test_scope must be 'full' or 'batch', not '" ~ scope ~ "'") }}
    {%- endif -%}
    {{ return(scope) }}
{%- endmacro %}

{#- The batch of an incremental model: the rows stamped since the last
    published run (dq_runtime.published_runs, written by `make run`'s publish),
    so a run that failed its tests is tested again by its retry even when the
    retry wrote newer rows to the same model; where nothing was stamped since,
    or nothing was ever published (dbt alone, PostgreSQL, Spark), the rows of
    the latest run. The bound is read first (run_query) and written into the
    condition as a literal: a comparison with a constant lets the engine skip
    the row groups stamped before it (DuckDB's zone maps), where a comparison
    with a subquery reads the stamp of every row (DECISIONLOG 131). -#}
{% macro cx_batch_condition(relation) -%}
    {%- set bound_sql -%}
        select coalesce(
            (select min(loaded_at) from {{ relation }}
             where loaded_at > (select max(run_started_at) from {{ published_runs_relation() }})),
            (select max(loaded_at) from {{ relation }}))
    {%- endset -%}
    {%- if not execute -%}
        loaded_at >= ({{ bound_sql }})
    {%- else -%}
        {#- as text in the engine's own format, so no driver converts its zone -#}
        {%- set bound = run_query('select ' ~ dbt.cast('(' ~ bound_sql ~ ')', dbt.type_string()) ~ ' as batch_start').rows[0][0] -%}
        {%- if bound is none -%}
            1 = 0
        {%- else -%}
            loaded_at >= cast('{{ bound }}' as {{ dbt.type_timestamp() }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- when the dbt run that wrote the row started (UTC): the batch marker -#}
{% macro cx_loaded_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The deliveries (files, as cis_manifest_files lists them) of one export
    whose rows are in its staging model's (`staged`) batch (cx_batch_condition):
    what a batch-scoped check reads from the landing folder. -#}
{% macro cx_batch_delivery_files(name, staged) -%}
    {%- if not execute %}{{ return([]) }}{% endif %}
    {%- set written = run_query('select distinct source_delivery from ' ~ staged ~ ' where ' ~ cx_batch_condition(staged)).columns[0].values() | list %}
    {{ return(cis_manifest_files(name) | selectattr('delivery', 'in', written) | list) }}
{%- endmacro %}
