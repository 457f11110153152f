{#-
  The intake on an engine whose exports were read beforehand by DuckDB's
  intake (cx_warehouse/engines/intake.py) instead of in place: PostgreSQL
  (loaded into tables by `python -m cx_warehouse.engines.postgres load`) and
  Spark (views over the intake folder written by `python -m
  cx_warehouse.engines.spark load`). Either way schema cis holds:
    cis.raw_X                  the contract columns as text + source_delivery,
                               delivery_fingerprint (the dbt sources)
    cis.raw_deliveries         one row per delivery loaded
    cis.raw_malformed_records  CSV records DuckDB's strict reader could not split
    cis.raw_stray_quotes       text values with a quote in an unquoted field
  and these default__ implementations of the intake's interface read them
  (DuckDB's own: macros/loading/cis_deliveries.sql). Deliveries are ordered
  by name byte-wise on every engine (cx_bytewise).
-#}

{% macro default__cis_export_files(name) -%}
    {%- set sql -%}
        select source_path, source_delivery, delivery_fingerprint, file_kind
        from cis.raw_deliveries
        where export_name = {{ cx_string_literals([name]) }}
        order by {{ cx_bytewise('source_delivery') }}, {{ cx_bytewise('source_path') }}
    {%- endset -%}
    {%- set files = [] -%}
    {%- for row in run_query(sql).rows -%}
        {%- do files.append({'path': row[0], 'delivery': row[1], 'fingerprint': row[2], 'kind': row[3]}) -%}
    {%- endfor -%}
    {%- if files | length == 0 -%}
        {{ exceptions.raise_compiler_error(name ~ ": no delivery loaded into cis." ~ name
            ~ "; load the exports first: python -m cx_warehouse.engines." ~ target.type ~ " load --raw-dir DIR") }}
    {%- endif -%}
    {{ return(files) }}
{%- endmacro %}

{#- The loaded rows of the given deliveries (name and fingerprint as listed). -#}
{% macro default__cis_read_files(name, files) -%}
    {%- set columns = cis_contract_columns(name) -%}
    select
        {%- for c in columns %}
        {{ adapter.quote(c) }} as {{ c }},
        {%- endfor %}
        source_delivery,
        delivery_fingerprint
    from cis.{{ name }}
    where {{ cis_loaded_deliveries_in(files) }}
{%- endmacro %}

{#- SQL condition: the row's (source_delivery, delivery_fingerprint) is one of the given deliveries'. -#}
{% macro cis_loaded_deliveries_in(files) -%}
    {%- set rows = [] -%}
    {%- for f in files -%}{%- do rows.append([f.delivery, f.fingerprint]) -%}{%- endfor %}
    (source_delivery, delivery_fingerprint) in (
        {{ cx_string_rows(rows) }}
    )
{%- endmacro %}

{% macro default__cis_malformed_records(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute or not files -%}{{ return(out) }}{%- endif -%}
    {%- set sql -%}
        select source_delivery, delivery_fingerprint, source_line, reason, coalesce(raw_text, '')
        from cis.raw_malformed_records
        where export_name = {{ cx_string_literals([name]) }} and {{ cis_loaded_deliveries_in(files) }}
        order by {{ cx_bytewise('source_delivery') }}, source_line
    {%- endset -%}
    {%- for row in run_query(sql).rows -%}
        {%- do out.append({'delivery': row[0], 'fingerprint': row[1], 'line': row[2], 'reason': row[3], 'text': row[4]}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{% macro default__cis_stray_quotes(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute or not files -%}{{ return(out) }}{%- endif -%}
    {%- set sql -%}
        select source_delivery, key_text, column_name
        from cis.raw_stray_quotes
        where export_name = {{ cx_string_literals([name]) }} and {{ cis_loaded_deliveries_in(files) }}
        order by {{ cx_bytewise('source_delivery') }}, {{ cx_bytewise('key_text') }}, {{ cx_bytewise('column_name') }}
    {%- endset -%}
    {%- for row in run_query(sql).rows -%}
        {%- do out.append({'delivery': row[0], 'key': row[1], 'column': row[2]}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}
