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
  these tables, not from the files, by the macros Spark shares
  (macros/loading/cis_loaded_exports.sql); var raw_dir is not read on PostgreSQL.
-#}

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
