{#-
  Intake of the CIS exports (docs/contract/cis-exports.md, "Large and
  incremental feeds"). An export arrives in one of four forms under var
  `raw_dir`:  raw_X.csv | raw_X.parquet | raw_X/*.csv | raw_X/*.parquet
  (a folder may mix CSV and Parquet files). Each file is one *delivery*,
  named by its file name and ordered by it; its fingerprint (size and
  modification time) tells a re-sent file from the one already loaded.

  cis_export_files(name)   the deliveries of one export, ordered by name:
                           [{path, delivery, fingerprint, kind}]; raises
                           an error naming both forms when an export
                           arrives in two forms, or none.
  cis_read_files(name, files)
                           SQL selecting the contract columns as text plus
                           source_delivery and delivery_fingerprint from
                           the given deliveries (engine specific: DuckDB
                           reads the files in place).
  cis_register_sources()   on-run-start: (re)creates the source relations
                           cis.raw_X as views over every delivery, so that
                           source freshness, tests and lineage see them.
-#}

{% macro cis_export_files(name) -%}
    {{ return(adapter.dispatch('cis_export_files', 'cx_warehouse')(name)) }}
{%- endmacro %}

{% macro duckdb__cis_export_files(name) -%}
    {%- set base = var('raw_dir') ~ '/' ~ name -%}
    {%- set forms = [base ~ '.csv', base ~ '.parquet', base ~ '/*.csv', base ~ '/*.parquet'] -%}
    {%- set sql -%}
        select
            filename,
            cast(size as varchar) || '-' || cast(epoch_ms(last_modified) as varchar) as fingerprint
        from read_blob([{% for f in forms %}'{{ f }}'{{ ", " if not loop.last }}{% endfor %}])
        order by parse_filename(filename), filename
    {%- endset -%}
    {%- set files = [] -%}
    {%- set seen_forms = [] -%}
    {%- for row in run_query(sql).rows -%}
        {%- set path = row[0] -%}
        {%- set delivery = path.split('/')[-1] -%}
        {%- set in_folder = path.split('/')[-2] == name -%}
        {%- set form = (name ~ '/') if in_folder else delivery -%}
        {%- if form not in seen_forms -%}{%- do seen_forms.append(form) -%}{%- endif -%}
        {%- do files.append({
            'path': path,
            'delivery': delivery,
            'fingerprint': row[1],
            'kind': 'parquet' if path.endswith('.parquet') else 'csv',
        }) -%}
    {%- endfor -%}
    {%- if seen_forms | length > 1 -%}
        {{ exceptions.raise_compiler_error(name ~ ": two forms of one export in " ~ var('raw_dir') ~ ": " ~ seen_forms | join(' and ') ~ "; keep one") }}
    {%- endif -%}
    {%- if files | length == 0 -%}
        {{ exceptions.raise_compiler_error(name ~ ": export is missing from " ~ var('raw_dir') ~ " (expected " ~ name ~ ".csv, " ~ name ~ ".parquet or a folder " ~ name ~ "/)") }}
    {%- endif -%}
    {{ return(files) }}
{%- endmacro %}

{% macro default__cis_export_files(name) -%}
    {{ exceptions.raise_compiler_error("cis_export_files: no intake for adapter " ~ adapter.type() ~ "; load the exports into the cis source tables first") }}
{%- endmacro %}


{% macro cis_contract_columns(name) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ name] -%}
    {{ return(node.columns.values() | map(attribute='name') | list) }}
{%- endmacro %}


{% macro cis_read_files(name, files) -%}
    {{ return(adapter.dispatch('cis_read_files', 'cx_warehouse')(name, files)) }}
{%- endmacro %}

{% macro duckdb__cis_read_files(name, files) -%}
    {%- set columns = cis_contract_columns(name) -%}
    {%- set parts = [] -%}
    {%- for kind in ['csv', 'parquet'] -%}
        {%- set paths = files | selectattr('kind', 'equalto', kind) | map(attribute='path') | list -%}
        {%- if paths -%}
            {%- set file_list -%}[{% for p in paths %}'{{ p }}'{{ ", " if not loop.last }}{% endfor %}]{%- endset -%}
            {%- if kind == 'csv' -%}
                {%- set reader = "read_csv(" ~ file_list ~ ", header=true, all_varchar=true, delim=',', quote='\"', escape='\"', null_padding=true, union_by_name=true, filename=true)" -%}
            {%- else -%}
                {%- set reader = "read_parquet(" ~ file_list ~ ", union_by_name=true, filename=true)" -%}
            {%- endif -%}
            {%- set part -%}
    select
        {%- for c in columns %}
        cast({{ adapter.quote(c) }} as varchar) as {{ c }},
        {%- endfor %}
        filename as source_path
    from {{ reader }}
            {%- endset -%}
            {%- do parts.append(part) -%}
        {%- endif -%}
    {%- endfor %}
    select
        {%- for c in columns %}
        files.{{ c }},
        {%- endfor %}
        deliveries.source_delivery,
        deliveries.delivery_fingerprint
    from (
        {{ parts | join('\n    union all\n') }}
    ) as files
    inner join (
        values
        {%- for f in files %}
        ('{{ f.path }}', '{{ f.delivery }}', '{{ f.fingerprint }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as deliveries (source_path, source_delivery, delivery_fingerprint)
        on files.source_path = deliveries.source_path
{%- endmacro %}


{% macro cis_register_sources() -%}
    {%- if execute and flags.WHICH in ['build', 'run', 'test', 'source', 'freshness', 'compile'] -%}
        {%- do adapter.dispatch('cis_register_sources', 'cx_warehouse')() -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__cis_register_sources() -%}
    {%- do run_query('create schema if not exists cis') -%}
    {%- for name in cis_export_names() -%}
        {%- set files = cis_export_files(name) -%}
        {%- do run_query('create or replace view cis.' ~ name ~ ' as ' ~ cis_read_files(name, files)) -%}
    {%- endfor -%}
{%- endmacro %}

{% macro default__cis_register_sources() -%}
{%- endmacro %}
