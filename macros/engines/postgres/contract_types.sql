{#-
  The models' contracts (and the seeds' column_types) name their types as
  DuckDB and Spark spell them; PostgreSQL spells one of them differently:
  `double` is `double precision` there. These overrides of dbt's own macros
  (dispatched for postgres; the root project's version wins) translate the
  declared types when dbt builds the contract check, the table DDL and the
  seed tables, so the yml files stay shared by every engine.
-#}
{% macro cx_postgres_type(data_type) -%}
    {%- set t = (data_type or '') | string -%}
    {%- if t | trim | lower == 'double' -%}double precision{%- else -%}{{ t }}{%- endif -%}
{%- endmacro %}

{% macro cx_postgres_columns(columns) -%}
    {%- set out = {} -%}
    {%- for name, col in columns.items() -%}
        {%- set copy = {} -%}
        {%- do copy.update(col) -%}
        {%- if col.get('data_type') is not none -%}
            {%- do copy.update({'data_type': cx_postgres_type(col['data_type'])}) -%}
        {%- endif -%}
        {%- do out.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{% macro postgres__get_empty_schema_sql(columns) %}
    {{ return(dbt.default__get_empty_schema_sql(cx_postgres_columns(columns))) }}
{% endmacro %}

{% macro postgres__get_table_columns_and_constraints() -%}
    {%- set raw_column_constraints = adapter.render_raw_columns_constraints(raw_columns=cx_postgres_columns(model['columns'])) -%}
    {%- set raw_model_constraints = adapter.render_raw_model_constraints(raw_constraints=model['constraints']) -%}
    (
    {% for c in raw_column_constraints -%}
      {{ c }}{{ "," if not loop.last or raw_model_constraints }}
    {% endfor %}
    {% for c in raw_model_constraints -%}
        {{ c }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}

{% macro postgres__create_csv_table(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}

  {% set sql %}
    create table {{ this.render() }} (
        {%- for col_name in agate_table.column_names -%}
            {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
            {%- set type = cx_postgres_type(column_override.get(col_name, inferred_type)) -%}
            {%- set column_name = (col_name | string) -%}
            {{ adapter.quote_seed_column(column_name, quote_seed_column) }} {{ type }} {%- if not loop.last -%}, {%- endif -%}
        {%- endfor -%}
    )
  {% endset %}

  {% call statement('_') -%}
    {{ sql }}
  {%- endcall %}

  {{ return(sql) }}
{% endmacro %}
