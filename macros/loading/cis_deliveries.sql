{#-
  Intake of the CIS exports (docs/contract/cis-exports.md, "Forms and
  deliveries"). An export arrives in one of four forms under the
  landing folder (cx_raw_dir):  raw_X.csv | raw_X.parquet | raw_X/*.csv | raw_X/*.parquet
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

{#- The landing folder: var raw_dir, else $CX_RAW_DIR, else the committed
    sample. `make run` passes it in the environment, so that runs into one
    warehouse file share one parse (DECISIONLOG 106). -#}
{% macro cx_raw_dir() -%}
    {{ return(var('raw_dir', env_var('CX_RAW_DIR', 'data/sample_exports'))) }}
{%- endmacro %}

{% macro cis_export_files(name) -%}
    {{ return(adapter.dispatch('cis_export_files', 'cx_warehouse')(name)) }}
{%- endmacro %}

{% macro duckdb__cis_export_files(name) -%}
    {#- the landing folder as a glob pattern that matches itself: its own
        glob characters are bracketed -#}
    {%- set base = cx_raw_dir() | replace('[', '[[]') | replace('*', '[*]') | replace('?', '[?]') -%}
    {%- set forms = [] -%}
    {%- for pattern in cis_intake_rule('forms') -%}
        {%- do forms.append(base ~ '/' ~ pattern | replace('{name}', name)) -%}
    {%- endfor -%}
    {%- set sql -%}
        select filename, {{ cis_intake_rule('fingerprint') }} as fingerprint
        from read_blob([{{ cx_string_literals(forms) }}])
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
    {%- if seen_forms | length != 1 -%}
        {{ exceptions.raise_compiler_error(cis_intake_message('missing' if not seen_forms else 'two_forms',
            {'name': name, 'raw_dir': cx_raw_dir(), 'forms': seen_forms | sort | join(' and ')})) }}
    {%- endif -%}
    {{ return(files) }}
{%- endmacro %}

{#- One of the intake's rules, written once in the contract (the cis source's
    meta `intake` in _cis__sources.yml; Python's preflight reads the same,
    contract.intake_rule): forms, fingerprint, two_forms, missing. -#}
{% macro cis_intake_rule(key) -%}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', 'cis') | first -%}
    {{ return(node.source_meta.intake[key]) }}
{%- endmacro %}

{#- An intake error from its template in the contract, {placeholders} filled from `values`. -#}
{% macro cis_intake_message(key, values) -%}
    {%- set parts = cis_intake_rule(key).split('{') -%}
    {%- set out = [parts[0]] -%}
    {%- for part in parts[1:] -%}
        {%- set pieces = part.split('}', 1) -%}
        {%- do out.append(values[pieces[0]] ~ pieces[1]) -%}
    {%- endfor -%}
    {{ return(out | join('')) }}
{%- endmacro %}


{% macro cis_contract_columns(name) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ name] -%}
    {{ return(node.columns.values() | map(attribute='name') | list) }}
{%- endmacro %}

{#- The contract columns of an export that a delivery may lack (meta
    may_be_absent: added to the contract later). -#}
{% macro cis_absent_allowed_columns(name) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ name] -%}
    {%- set out = [] -%}
    {%- for c in node.columns.values() if c.meta.get('may_be_absent') -%}
        {%- do out.append(c.name) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{% macro cis_read_files(name, files) -%}
    {{ return(adapter.dispatch('cis_read_files', 'cx_warehouse')(name, files)) }}
{%- endmacro %}

{#- CSV is read strictly (RFC 4180: quoted commas, doubled quotes, quoted line
    breaks, CRLF, a byte-order mark) with every column as text. Columns are
    taken by name from each file's own header, so order and extra columns do
    not matter. A malformed record (invalid UTF-8, too few or too many fields,
    an unterminated quote) is skipped here and reported by cis_malformed_records. -#}
{% macro cis_csv_options() -%}
    delim = ',', quote = '"', escape = '"', strict_mode = true
{%- endmacro %}

{% macro duckdb__cis_csv_header(path) -%}
    {%- set sql -%}
        select l from read_csv({{ cx_string_literals([path]) }}, header = false, auto_detect = false, columns = {'l': 'VARCHAR'},
            delim = chr(31), quote = '', escape = '', strict_mode = false, ignore_errors = true, null_padding = true)
        limit 1
    {%- endset -%}
    {%- set rows = run_query(sql).rows -%}
    {%- set line = (rows[0][0] if rows else '') or '' -%}
    {%- set names = [] -%}
    {%- for h in line.replace('\ufeff', '').split(',') -%}
        {%- do names.append(h.strip().strip('"').strip()) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- CSV deliveries grouped by identical header: [{header, paths, reader}] -#}
{% macro duckdb__cis_csv_groups(files, extra='') -%}
    {%- set groups = [] -%}
    {%- set by_header = {} -%}
    {%- for f in files if f.kind == 'csv' -%}
        {%- set header = duckdb__cis_csv_header(f.path) -%}
        {%- set key = header | join(',') -%}
        {%- if key not in by_header -%}
            {%- do by_header.update({key: {'header': header, 'paths': []}}) -%}
            {%- do groups.append(by_header[key]) -%}
        {%- endif -%}
        {%- do by_header[key]['paths'].append(f.path) -%}
    {%- endfor -%}
    {%- for g in groups -%}
        {%- set reader -%}
            read_csv([{{ cx_string_literals(g.paths) }}],
                header = true, auto_detect = false,
                columns = { {%- for h in g.header %}{{ cx_string_literals([h]) }}: 'VARCHAR'{{ ", " if not loop.last }}{% endfor -%} },
                {{ cis_csv_options() }}, filename = true{{ extra }})
        {%- endset -%}
        {%- do g.update({'reader': reader}) -%}
    {%- endfor -%}
    {{ return(groups) }}
{%- endmacro %}

{#- Each reader knows the columns its files hold: a contract column that may
    be absent (cis_absent_allowed_columns) and is not among them reads as
    empty; any other contract column is read by name (preflight has checked
    it is there). -#}
{% macro duckdb__cis_read_files(name, files) -%}
    {%- set columns = cis_contract_columns(name) -%}
    {%- set absent_allowed = cis_absent_allowed_columns(name) -%}
    {%- set readers = [] -%}
    {%- for g in duckdb__cis_csv_groups(files, extra=', ignore_errors = true') -%}
        {%- do readers.append({'sql': g.reader, 'columns': g.header}) -%}
    {%- endfor -%}
    {%- set parquets = files | selectattr('kind', 'equalto', 'parquet') | map(attribute='path') | list -%}
    {%- if parquets -%}
        {%- set held = columns -%}
        {%- if absent_allowed and execute -%}
            {%- set held = run_query("select distinct name from parquet_schema([" ~ cx_string_literals(parquets) ~ "])").columns[0].values() | list -%}
        {%- endif -%}
        {%- do readers.append({'sql': "read_parquet([" ~ cx_string_literals(parquets) ~ "], union_by_name = true, filename = true)",
                               'columns': held}) -%}
    {%- endif -%}
    {%- set delivery_rows = [] -%}
    {%- for f in files -%}{%- do delivery_rows.append([f.path, f.delivery, f.fingerprint]) -%}{%- endfor -%}
    {%- set parts = [] -%}
    {%- for reader in readers -%}
        {%- set part -%}
    select
        {%- for c in columns %}
        {%- if c in absent_allowed and c not in reader.columns %}
        cast(null as varchar) as {{ c }},
        {%- else %}
        cast({{ adapter.quote(c) }} as varchar) as {{ c }},
        {%- endif %}
        {%- endfor %}
        filename as source_path
    from {{ reader.sql }}
        {%- endset -%}
        {%- do parts.append(part) -%}
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
        {{ cx_string_rows(delivery_rows) }}
    ) as deliveries (source_path, source_delivery, delivery_fingerprint)
        on files.source_path = deliveries.source_path
{%- endmacro %}


{#- Malformed CSV records of the given deliveries, found by DuckDB's own CSV
    reader (store_rejects): [{delivery, fingerprint, line, reason, text}], one per
    record, `line` as DuckDB counts it (the header is line 1). -#}
{% macro cis_malformed_records(name, files) -%}
    {{ return(adapter.dispatch('cis_malformed_records', 'cx_warehouse')(name, files)) }}
{%- endmacro %}

{% macro duckdb__cis_malformed_records(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute -%}{{ return(out) }}{%- endif -%}
    {%- set by_path = {} -%}
    {%- for f in files -%}{%- do by_path.update({f.path: f}) -%}{%- endfor -%}
    {%- for g in duckdb__cis_csv_groups(files, extra=", store_rejects = true, rejects_table = 'cis_reject_errors', rejects_scan = 'cis_reject_scans'") -%}
        {%- do run_query("drop table if exists cis_reject_errors; drop table if exists cis_reject_scans") -%}
        {#- touch every column: a count(*) alone would not decode (and so not check) the values -#}
        {%- set touched = [] -%}
        {%- for h in g.header -%}{%- do touched.append("length(" ~ adapter.quote(h) ~ ")") -%}{%- endfor -%}
        {%- do run_query("select count(*), sum(" ~ touched | join(" + ") ~ ") from " ~ g.reader) -%}
        {%- set sql -%}
            select
                scans.file_path,
                errors.line,
                string_agg(distinct errors.error_type, ',' order by errors.error_type) as error_types,
                min(case when errors.error_type = 'MISSING COLUMNS'
                    then try_cast(regexp_extract(errors.error_message, 'Found: ([0-9]+)', 1) as integer) end) as fields_short,
                max(case when errors.error_type = 'TOO MANY COLUMNS'
                    then try_cast(regexp_extract(errors.error_message, 'Found: ([0-9]+)', 1) as integer) end) as fields_long,
                min(trim(errors.csv_line, chr(10) || chr(13))) as raw_text
            from cis_reject_errors as errors
            inner join cis_reject_scans as scans
                on errors.scan_id = scans.scan_id and errors.file_id = scans.file_id
            group by scans.file_path, errors.line
            order by scans.file_path, errors.line
        {%- endset -%}
        {%- set n = g.header | length -%}
        {%- for row in run_query(sql).rows -%}
            {%- set reasons = [] -%}
            {%- set types = row[2].split(',') -%}
            {%- if 'INVALID ENCODING' in types -%}{%- do reasons.append('invalid UTF-8') -%}{%- endif -%}
            {%- if 'MISSING COLUMNS' in types -%}{%- do reasons.append(n ~ ' fields expected, ' ~ row[3] ~ ' found') -%}{%- endif -%}
            {%- if 'TOO MANY COLUMNS' in types -%}{%- do reasons.append(n ~ ' fields expected, ' ~ row[4] ~ ' found') -%}{%- endif -%}
            {%- if 'UNQUOTED VALUE' in types -%}{%- do reasons.append('unterminated quote') -%}{%- endif -%}
            {%- for t in types if t not in ['INVALID ENCODING', 'MISSING COLUMNS', 'TOO MANY COLUMNS', 'UNQUOTED VALUE'] -%}
                {%- do reasons.append('malformed record: ' ~ t | lower) -%}
            {%- endfor -%}
            {%- set f = by_path[row[0]] -%}
            {%- do out.append({'delivery': f.delivery, 'fingerprint': f.fingerprint, 'line': row[1],
                               'reason': reasons | join('; '), 'text': row[5] or ''}) -%}
        {%- endfor -%}
        {%- do run_query("drop table if exists cis_reject_errors; drop table if exists cis_reject_scans") -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{#- Values with a quote character that the file does not hold in quoted form
    (`Str"ay` rather than `"Str""ay"`): a stray quote in an unquoted field,
    which DuckDB's reader keeps as a character. Returns
    [{delivery, key, column}] for the given deliveries (CSV only). A value
    with a quote is rare, so each such value is looked up in its file's bytes. -#}
{% macro cis_stray_quotes(name, files) -%}
    {{ return(adapter.dispatch('cis_stray_quotes', 'cx_warehouse')(name, files)) }}
{%- endmacro %}

{% macro duckdb__cis_stray_quotes(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute -%}{{ return(out) }}{%- endif -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ name] -%}
    {%- set text_cols = [] -%}
    {%- for c in node.columns.values() if c.meta.get('cis_type', 'text') == 'text' -%}{%- do text_cols.append(c.name) -%}{%- endfor -%}
    {%- set pk = node.meta.primary_key -%}
    {%- set key_parts = [] -%}
    {%- for k in pk -%}{%- do key_parts.append("coalesce(" ~ adapter.quote(k) ~ ", '')") -%}{%- endfor -%}
    {%- set by_path = {} -%}
    {%- for f in files -%}{%- do by_path.update({f.path: f}) -%}{%- endfor -%}
    {%- for g in duckdb__cis_csv_groups(files, extra=', ignore_errors = true') -%}
        {%- set cols = text_cols | select('in', g.header) | list -%}
        {%- if cols -%}
            {%- set sql -%}
                with quoted as (
                    {%- for c in cols %}
                    select filename, {{ key_parts | join(" || '|' || ") }} as key_text, {{ cx_string_literals([c]) }} as column_name,
                        {{ adapter.quote(c) }} as value_text
                    from {{ g.reader }}
                    where strpos({{ adapter.quote(c) }}, '"') > 0
                    {{ "union all" if not loop.last }}
                    {%- endfor %}
                ),
                files as (
                    select filename, cast(content as varchar) as bytes_text
                    from read_blob([{{ cx_string_literals(g.paths) }}])
                    where filename in (select filename from quoted)
                )
                select quoted.filename, quoted.key_text, quoted.column_name
                from quoted
                inner join files on quoted.filename = files.filename
                where strpos(files.bytes_text, cast(cast('"' || replace(quoted.value_text, '"', '""') || '"' as blob) as varchar)) = 0
            {%- endset -%}
            {%- for row in run_query(sql).rows -%}
                {%- do out.append({'delivery': by_path[row[0]].delivery, 'key': row[1], 'column': row[2]}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{#- The intake step (on-run-start of every command that builds): lists every
    export's deliveries once (cis_export_files), registers the source
    relations cis.raw_X (engine specific) and writes the delivery manifest
    cis.deliveries (cis_write_manifest), which staging reads. -#}
{% macro cis_register_sources() -%}
    {%- if execute and flags.WHICH in ['build', 'run', 'test', 'source', 'freshness', 'compile'] -%}
        {%- set listing = adapter.dispatch('cis_register_sources', 'cx_warehouse')() -%}
        {%- do cis_write_manifest(listing) -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- The dbt commands that build staging after their on-run-start ran the
    intake: staging reads the manifest under these; under any other (a
    compile, which runs no hook, as a linter's or `dbt docs`) it lists the
    files itself (cis_manifest_files). -#}
{% macro cis_intake_commands() -%}
    {{ return(['build', 'run']) }}
{%- endmacro %}

{#- The delivery manifest cis.deliveries: one row per delivery listed by this
    run (export_name, source_delivery, delivery_fingerprint, file_kind,
    source_path) with listed_at, the run stamp (cx_loaded_at) of the run that
    first listed that name with that fingerprint. A new or re-sent file gets
    this run's stamp; an unchanged one keeps its stamp; a file no longer
    listed leaves the manifest. Staging loads the deliveries stamped after
    its own newest row (cx_change_plan). `listing` maps each export to its
    cis_export_files. Portable SQL, one statement per call. -#}
{% macro cis_write_manifest(listing) -%}
    {%- set manifest = api.Relation.create(database=target.get('database'), schema='cis', identifier='deliveries', type='table') -%}
    {%- set listed = api.Relation.create(database=target.get('database'), schema='cis', identifier='deliveries_listed', type='table') -%}
    {%- set fresh = api.Relation.create(database=target.get('database'), schema='cis', identifier='deliveries_next', type='table') -%}
    {%- set text = dbt.type_string() -%}
    {%- set columns -%}
        export_name {{ text }}, source_delivery {{ text }}, delivery_fingerprint {{ text }}, file_kind {{ text }},
        source_path {{ text }}
    {%- endset -%}
    {%- do run_query('create schema if not exists cis') -%}
    {%- do run_query('create table if not exists ' ~ manifest ~ ' (' ~ columns ~ ', listed_at ' ~ dbt.type_timestamp() ~ ')'
                     ~ cis_table_format()) -%}
    {%- for rel in [listed, fresh] -%}{%- do run_query('drop table if exists ' ~ rel) -%}{%- endfor -%}
    {%- do run_query('create table ' ~ listed ~ ' (' ~ columns ~ ')' ~ cis_table_format()) -%}
    {%- for name, files in listing.items() if files -%}
        {%- set rows = [] -%}
        {%- for f in files -%}
            {%- do rows.append([name, f.delivery, f.fingerprint, f.kind, f.path]) -%}
        {%- endfor -%}
        {%- do run_query('insert into ' ~ listed ~ ' values ' ~ cx_string_rows(rows)) -%}
    {%- endfor -%}
    {%- set build_sql -%}
        create table {{ fresh }}{{ cis_table_format() }} as
        select
            listed.export_name,
            listed.source_delivery,
            listed.delivery_fingerprint,
            listed.file_kind,
            listed.source_path,
            coalesce(previous.listed_at, {{ cx_loaded_at() }}) as listed_at
        from {{ listed }} as listed
        left join {{ manifest }} as previous
            on
                listed.export_name = previous.export_name
                and listed.source_delivery = previous.source_delivery
                and listed.delivery_fingerprint = previous.delivery_fingerprint
    {%- endset -%}
    {%- do run_query(build_sql) -%}
    {#- copied back rather than renamed: a few hundred rows a day, and every
        engine writes a table the same way -#}
    {%- do run_query('drop table ' ~ manifest) -%}
    {%- do run_query('create table ' ~ manifest ~ cis_table_format() ~ ' as select * from ' ~ fresh) -%}
    {%- for rel in [listed, fresh] -%}{%- do run_query('drop table ' ~ rel) -%}{%- endfor -%}
    {%- do adapter.dispatch('cis_commit_intake', 'cx_warehouse')() -%}
{%- endmacro %}

{#- The manifest outlives the hook: PostgreSQL's driver opened a transaction
    with the first statement, which nothing else would commit; DuckDB and
    Spark have committed each statement. -#}
{% macro default__cis_commit_intake() -%}
{%- endmacro %}

{% macro postgres__cis_commit_intake() -%}
    {%- do run_query('commit') -%}
{%- endmacro %}

{#- How a table of the intake is stored: the engine's default (Parquet on Spark). -#}
{% macro cis_table_format() -%}
    {{ return(adapter.dispatch('cis_table_format', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__cis_table_format() -%}
    {{ return('') }}
{%- endmacro %}

{#- The deliveries of one export, as cis_export_files gives them: read from
    the manifest the intake wrote at the start of this run; a command whose
    start runs no intake (a bare compile by a linter, docs) lists the files
    itself. -#}
{% macro cis_manifest_files(name) -%}
    {%- if flags.WHICH not in cis_intake_commands() -%}{{ return(cis_export_files(name)) }}{%- endif -%}
    {%- set sql -%}
        select source_path, source_delivery, delivery_fingerprint, file_kind
        from cis.deliveries
        where export_name = {{ cx_string_literals([name]) }}
    {%- endset -%}
    {%- set files = [] -%}
    {%- for row in run_query(sql).rows -%}
        {%- do files.append({'path': row[0], 'delivery': row[1], 'fingerprint': row[2], 'kind': row[3]}) -%}
    {%- endfor -%}
    {{ return(files | sort(attribute='path') | sort(attribute='delivery')) }}
{%- endmacro %}

{% macro duckdb__cis_register_sources() -%}
    {%- do run_query('create schema if not exists cis') -%}
    {%- set listing = {} -%}
    {%- for name in cis_export_names() -%}
        {%- set files = cis_export_files(name) -%}
        {%- do listing.update({name: files}) -%}
        {%- do run_query('create or replace view cis.' ~ name ~ ' as ' ~ cis_read_files(name, files)) -%}
    {%- endfor -%}
    {{ return(listing) }}
{%- endmacro %}

{% macro default__cis_register_sources() -%}
    {{ return({}) }}
{%- endmacro %}


{#- The intake of the given deliveries written to Parquet files, for an
    engine that does not read the landing folder with DuckDB (the PostgreSQL
    and Spark loaders run it through cx_warehouse/engines/intake.py, with
    `dbt run-operation` on a DuckDB file of their own): the same readers as DuckDB's staging, so every
    engine reads a delivery by one set of rules. deliveries_file: a JSON-lines
    file of {export, path, delivery, fingerprint, kind} (a list of thousands
    of deliveries does not fit in a command line). Writes
    <out_dir>/<export>.rows.parquet (the contract columns as text,
    source_delivery, delivery_fingerprint) and, when there are any,
    <export>.malformed.parquet and <export>.stray.parquet. -#}
{% macro cis_export_for_loading(deliveries_file, out_dir) -%}
    {%- set listed = run_query("select export, path, delivery, fingerprint, kind from read_json("
        ~ cx_string_literals([deliveries_file]) ~ ", format = 'newline_delimited', columns = {export: 'VARCHAR', "
        ~ "path: 'VARCHAR', delivery: 'VARCHAR', fingerprint: 'VARCHAR', kind: 'VARCHAR'}) order by export, delivery") -%}
    {%- set deliveries = {} -%}
    {%- for r in listed.rows -%}
        {%- do deliveries.setdefault(r[0], []).append({'path': r[1], 'delivery': r[2], 'fingerprint': r[3], 'kind': r[4]}) -%}
    {%- endfor -%}
    {%- for name, files in deliveries.items() -%}
        {%- set base = out_dir ~ '/' ~ name -%}
        {#- ordered by delivery, so the loader's read of one delivery skips the
            other deliveries' row groups (their min/max statistics) -#}
        {%- do run_query("copy (select * from (" ~ duckdb__cis_read_files(name, files) ~ ") as rows_read "
                         ~ "order by source_delivery) to " ~ cx_string_literals([base ~ '.rows.parquet'])
                         ~ " (format parquet)") -%}
        {%- set malformed = duckdb__cis_malformed_records(name, files) -%}
        {%- if malformed -%}
            {%- set rows = [] -%}
            {%- for r in malformed -%}
                {%- do rows.append("(" ~ cx_string_literals([r.delivery, r.fingerprint]) ~ ", " ~ r.line ~ ", "
                                   ~ cx_string_literals([r.reason, r.text]) ~ ")") -%}
            {%- endfor -%}
            {%- do run_query("copy (select * from (values " ~ rows | join(", ") ~ ") as t (source_delivery, "
                             ~ "delivery_fingerprint, source_line, reason, raw_text)) to "
                             ~ cx_string_literals([base ~ '.malformed.parquet']) ~ " (format parquet)") -%}
        {%- endif -%}
        {%- set stray = duckdb__cis_stray_quotes(name, files) -%}
        {%- if stray -%}
            {%- set rows = [] -%}
            {%- for r in stray -%}
                {%- do rows.append("(" ~ cx_string_literals([r.delivery, r.key, r.column]) ~ ")") -%}
            {%- endfor -%}
            {%- do run_query("copy (select * from (values " ~ rows | join(", ") ~ ") as t (source_delivery, "
                             ~ "key_text, column_name)) to " ~ cx_string_literals([base ~ '.stray.parquet'])
                             ~ " (format parquet)") -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
