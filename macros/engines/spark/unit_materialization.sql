{#- dbt's unit-test materialization (dbt-core's materializations/tests/unit.sql)
    for Spark, with one step changed: the model's column types come from
    `describe query` of the empty select, instead of a temporary view created,
    described and dropped. Spark analyses the query either way; creating the
    view costs about four times as much (DECISIONLOG 137). -#}
{%- materialization unit, adapter='spark' -%}

  {% set relations = [] %}
  {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}

  {% set expected_rows = config.get('expected_rows') %}
  {% set expected_sql = config.get('expected_sql') %}
  {% set tested_expected_column_names = expected_rows[0].keys() if (expected_rows | length ) > 0 else get_columns_in_query(sql) %}

  {#- describe query: one row per column (col_name, data_type, comment), the
      types as `describe extended` of a view of the query gives them -#}
  {%- set described = run_query('describe query ' ~ get_empty_subquery_sql(sql)) -%}
  {%- set column_name_to_data_types = {} -%}
  {%- set column_name_to_quoted = {} -%}
  {%- for row in described.rows -%}
  {%-   do column_name_to_data_types.update({row[0] | lower: row[1]}) -%}
  {%-   do column_name_to_quoted.update({row[0] | lower: adapter.quote(row[0])}) -%}
  {%- endfor -%}

  {%- set expected_column_names_quoted = [] -%}
  {%- for column_name in tested_expected_column_names -%}
  {%-   do expected_column_names_quoted.append(column_name_to_quoted[column_name|lower]) -%}
  {%- endfor -%}

  {% if not expected_sql %}
  {%   set expected_sql = get_expected_sql(expected_rows, column_name_to_data_types, column_name_to_quoted) %}
  {% endif %}
  {% set unit_test_sql = get_unit_test_sql(sql, expected_sql, expected_column_names_quoted) %}

  {% call statement('main', fetch_result=True) -%}

    {% if sql_header %}{{ sql_header }}{% endif %}
    {{ unit_test_sql }}

  {%- endcall %}

  {{ return({'relations': relations}) }}

{%- endmaterialization -%}
