{#-
  Spark intake of the CIS exports (macros/loading/cis_deliveries.sql has the
  interface and DuckDB's version). Spark does not read the landing folder
  with readers of its own: the deliveries are read beforehand by DuckDB's
  intake, the readers of DuckDB's staging, into the intake folder
  (cx_warehouse/engines/spark.py):

    python -m cx_warehouse.engines.spark load --raw-dir DIR

  The on-run-start hook (spark__cis_register_sources) makes views over that
  folder in schema cis: raw_deliveries, raw_malformed_records and
  raw_stray_quotes (what the PostgreSQL loader keeps as tables of the same
  names, read by the default__ macros of macros/loading/cis_loaded_exports.sql),
  and cis.raw_X over the rows of each export's deliveries in force. Staging then runs
  unchanged; var raw_dir is not read on Spark.
-#}

{#- The intake folder: $CX_SPARK_INTAKE_DIR, else <CX_SPARK_DIR>/intake
    (cx_warehouse.engines.spark.intake_dir). -#}
{% macro spark__cis_intake_dir() -%}
    {{ return(env_var('CX_SPARK_INTAKE_DIR', '') or (env_var('CX_SPARK_DIR', 'warehouse/spark') ~ '/intake')) }}
{%- endmacro %}

{#- A path as a Hadoop glob that matches only itself (its glob characters escaped). -#}
{% macro spark__cis_glob_escape(path) -%}
    {#- (a `set` inside a for loop does not outlive the loop in Jinja: one chain) -#}
    {{ return(path | replace('\\', '\\\\') | replace('{', '\\{') | replace('}', '\\}') | replace(',', '\\,')
                   | replace('[', '\\[') | replace(']', '\\]') | replace('*', '\\*') | replace('?', '\\?')) }}
{%- endmacro %}

{#- SQL reading one Parquet file of the intake folder. -#}
{% macro spark__cis_intake_file(name) -%}
    parquet.`{{ spark__cis_glob_escape(spark__cis_intake_dir() ~ '/' ~ name) | replace('`', '``') }}`
{%- endmacro %}

{% macro spark__cis_register_sources() -%}
    {%- do run_query('create schema if not exists cis') -%}
    {%- for view, file in [('raw_deliveries', 'deliveries'), ('raw_malformed_records', 'malformed_records'),
                           ('raw_stray_quotes', 'stray_quotes')] -%}
        {%- do run_query('create or replace view cis.' ~ view ~ ' as select * from ' ~ spark__cis_intake_file(file ~ '.parquet')) -%}
    {%- endfor -%}
    {%- set batches = {} -%}
    {%- for row in run_query('select distinct export_name, batch from cis.raw_deliveries order by 1, 2').rows -%}
        {%- do batches.setdefault(row[0], []).append(row[1]) -%}
    {%- endfor -%}
    {%- set listing = {} -%}
    {%- for name in cis_export_names() -%}
        {%- do listing.update({name: cis_export_files(name)}) -%}
        {#- the export's rows: of each delivery in force, the rows of the batch
            the listing names for it (not those of an older batch that read the
            same name: re-sent since, or removed and delivered again) -#}
        {%- set glob = spark__cis_glob_escape(spark__cis_intake_dir() ~ '/batches') ~ '/{'
            ~ batches[name] | join(',') ~ '}/' ~ name ~ '.rows.parquet' -%}
        {%- set sql -%}
            create or replace view cis.{{ name }} as
            select rows_read.*
            from parquet.`{{ glob | replace('`', '``') }}` as rows_read
            left semi join cis.raw_deliveries as listed
                on listed.export_name = {{ cx_string_literals([name]) }}
                and rows_read.source_delivery = listed.source_delivery
                and rows_read.delivery_fingerprint = listed.delivery_fingerprint
                and regexp_extract(rows_read._metadata.file_path, '/batches/([^/]+)/[^/]+$', 1) = listed.batch
        {%- endset -%}
        {%- do run_query(sql) -%}
    {%- endfor -%}
    {{ return(listing) }}
{%- endmacro %}
