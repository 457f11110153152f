{#-
  Intake of the CIS exports on PostgreSQL (see macros/loading/cis_deliveries.sql
  for the interface). The server cannot read the landing folder, so the exports
  are loaded beforehand by `python -m cx_warehouse.engines.postgres load
  --raw-dir DIR` (cx_warehouse/engines/postgres.py) into schema cis:
    cis.raw_X                  the contract columns as text + source_delivery,
                               delivery_fingerprint (the dbt sources)
    cis.raw_deliveries         one row per delivery loaded
    cis.raw_malformed_records  CSV records the loader could not split
    cis.raw_stray_quotes       text values with a quote in an unquoted field
  The deliveries, malformed records and stray quotes are therefore read from
  these tables, not from the files; var raw_dir is not read on PostgreSQL.
-#}

{% macro postgres__cis_export_files(name) -%}
    {%- set sql -%}
        select source_path, source_delivery, delivery_fingerprint, file_kind
        from cis.raw_deliveries
        where export_name = '{{ name }}'
        order by source_delivery collate "C", source_path collate "C"
    {%- endset -%}
    {%- set files = [] -%}
    {%- for row in run_query(sql).rows -%}
        {%- do files.append({'path': row[0], 'delivery': row[1], 'fingerprint': row[2], 'kind': row[3]}) -%}
    {%- endfor -%}
    {%- if files | length == 0 -%}
        {{ exceptions.raise_compiler_error(name ~ ": no delivery loaded into cis." ~ name
            ~ "; load the exports first: python -m cx_warehouse.engines.postgres load --raw-dir DIR") }}
    {%- endif -%}
    {{ return(files) }}
{%- endmacro %}

{#- The loaded rows of the given deliveries (name and fingerprint as listed). -#}
{% macro postgres__cis_read_files(name, files) -%}
    {%- set columns = cis_contract_columns(name) -%}
    select
        {%- for c in columns %}
        {{ adapter.quote(c) }} as {{ c }},
        {%- endfor %}
        source_delivery,
        delivery_fingerprint
    from cis.{{ name }}
    where (source_delivery, delivery_fingerprint) in (
        {%- for f in files %}
        ({{ cx_string_literals([f.delivery, f.fingerprint]) }}){{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{% macro postgres__cis_malformed_records(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute or not files -%}{{ return(out) }}{%- endif -%}
    {%- set sql -%}
        select source_delivery, delivery_fingerprint, source_line, reason, coalesce(raw_text, '')
        from cis.raw_malformed_records
        where export_name = '{{ name }}'
            and (source_delivery, delivery_fingerprint) in (
                {%- for f in files %}({{ cx_string_literals([f.delivery, f.fingerprint]) }}){{ ", " if not loop.last }}{% endfor -%}
            )
        order by source_delivery collate "C", source_line
    {%- endset -%}
    {%- for row in run_query(sql).rows -%}
        {%- do out.append({'delivery': row[0], 'fingerprint': row[1], 'line': row[2], 'reason': row[3], 'text': row[4]}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{% macro postgres__cis_stray_quotes(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute or not files -%}{{ return(out) }}{%- endif -%}
    {%- set sql -%}
        select source_delivery, key_text, column_name
        from cis.raw_stray_quotes
        where export_name = '{{ name }}'
            and (source_delivery, delivery_fingerprint) in (
                {%- for f in files %}({{ cx_string_literals([f.delivery, f.fingerprint]) }}){{ ", " if not loop.last }}{% endfor -%}
            )
        order by source_delivery collate "C", key_text collate "C", column_name collate "C"
    {%- endset -%}
    {%- for row in run_query(sql).rows -%}
        {%- do out.append({'delivery': row[0], 'key': row[1], 'column': row[2]}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- The loaded tables are the sources: check that they are there. Whatever
    the database's collation, the models order deliveries by name and break
    ties between keys byte-wise, as DuckDB does (cx_bytewise). -#}
{% macro postgres__cis_register_sources() -%}
    {%- set check -%}
        select to_regclass('cis.raw_deliveries') is not null as loaded
    {%- endset -%}
    {%- set row = run_query(check).rows[0] -%}
    {%- if not row[0] -%}
        {{ exceptions.raise_compiler_error("schema cis holds no loaded exports; load them first: "
            ~ "python -m cx_warehouse.engines.postgres load --raw-dir DIR") }}
    {%- endif -%}
    {%- set listing = {} -%}
    {%- for name in cis_export_names() -%}
        {%- do listing.update({name: cis_export_files(name)}) -%}
    {%- endfor -%}
    {{ return(listing) }}
{%- endmacro %}

{#- The loader stores a NUL byte (which PostgreSQL text cannot hold) as U+FFFF. -#}
{% macro postgres__cis_contains_nul(expr) -%}
    coalesce(strpos({{ expr }}, chr(65535)) > 0, false)
{%- endmacro %}
