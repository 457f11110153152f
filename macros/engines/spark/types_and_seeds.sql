{#-
  Spark names some types differently: the project's contracts and seed
  column types say varchar (DuckDB, PostgreSQL), which Spark accepts only
  with a length, and integer/text. spark__cx_type translates them, and the
  two dbt macros that put a configured type into SQL on Spark use it:
  the contract check (get_empty_schema_sql) and the seed table.
-#}
{% macro spark__cx_type(data_type) -%}
    {%- set t = data_type.strip().lower() -%}
    {%- if t in ('varchar', 'text', 'character varying') -%}string
    {%- elif t in ('integer',) -%}int
    {%- elif t in ('double precision', 'float8') -%}double
    {%- else -%}{{ data_type }}
    {%- endif -%}
{%- endmacro %}

{#- dbt's default__get_empty_schema_sql with the types translated -#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set col_err = [] -%}
    select
    {% for i in columns %}
      {%- set col = columns[i] -%}
      {%- if col['data_type'] is not defined -%}
        {%- do col_err.append(col['name']) -%}
      {%- endif -%}
      {% set col_name = adapter.quote(col['name']) if col.get('quote') else col['name'] %}
      cast(null as {{ spark__cx_type(col['data_type'] or 'string') }}) as {{ col_name }}{{ ", " if not loop.last }}
    {%- endfor -%}
    {%- if (col_err | length) > 0 -%}
      {{ exceptions.column_type_missing(column_names=col_err) }}
    {%- endif -%}
{% endmacro %}

{#- dbt-spark's seed table with the column types translated -#}
{% macro spark__create_csv_table(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
  {% set sql %}
    create table {{ this.render() }} (
        {%- for col_name in agate_table.column_names -%}
            {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
            {%- set type = spark__cx_type(column_override.get(col_name, inferred_type)) -%}
            {{ adapter.quote_seed_column(col_name | string, quote_seed_column) }} {{ type }} {%- if not loop.last -%}, {%- endif -%}
        {%- endfor -%}
    )
    {{ file_format_clause() }}
    {{ partition_cols(label="partitioned by") }}
    {{ clustered_cols(label="clustered by") }}
    {{ location_clause() }}
    {{ comment_clause() }}
  {% endset %}
  {% call statement('_') -%}
    {{ sql }}
  {%- endcall %}
  {{ return(sql) }}
{% endmacro %}

{#- dbt-spark's seed rows as literals: its session method pastes bindings
    into the SQL unescaped, so a value with a quote broke the insert. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {% set column_override = model['config'].get('column_types', {}) %}
  {% set statements = [] %}
  {% for chunk in agate_table.rows | batch(get_batch_size()) %}
      {% set sql %}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for col_name in agate_table.column_names -%}
                  {%- set type = spark__cx_type(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
                  {%- set value = row[loop.index0] -%}
                  cast({{ 'null' if value is none else "'" ~ cx_escape_string(value | string) ~ "'" }} as {{ type }})
                  {%- if not loop.last %},{% endif -%}
              {%- endfor -%})
              {%- if not loop.last %},{% endif %}
          {%- endfor %}
      {% endset %}
      {% do adapter.add_query(sql, abridge_sql_log=True) %}
      {% if loop.index0 == 0 %}{% do statements.append(sql) %}{% endif %}
  {% endfor %}
  {{ return(statements[0] if statements else '') }}
{% endmacro %}

{#- Spark string literals take backslash escapes; a doubled quote is two literals. -#}
{% macro spark__cx_string_escapes() -%}
    {{ return([['\\', '\\\\'], ["'", "\\'"]]) }}
{%- endmacro %}

{#- Spark runs one statement per call: the schema and the table one by one. -#}
{% macro spark__create_test_results_log() %}
    {%- set rel = test_results_relation() -%}
    {%- do run_query('create schema if not exists ' ~ rel.schema) -%}
    {%- set sql -%}
    create table if not exists {{ rel }} (
        invocation_id string, run_started_at timestamp, test_unique_id string, test_name string,
        test_type string, tested_node string, severity string, status string,
        failing_rows bigint, message string, execution_seconds double
    ) using parquet
    {%- endset -%}
    {%- do run_query(sql) -%}
    {%- do run_query('create table if not exists ' ~ published_runs_relation()
        ~ ' (run_started_at timestamp, published_at timestamp) using parquet') -%}
    {{ return('') }}
{% endmacro %}

{#- The intake's tables (the delivery manifest) are Parquet, as every table here. -#}
{% macro spark__cis_table_format() -%}
    {{ return(' using parquet') }}
{%- endmacro %}
