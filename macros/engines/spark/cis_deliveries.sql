{#-
  Spark intake of the CIS exports (macros/loading/cis_deliveries.sql has the
  contract and the DuckDB version). Spark reads the files with its own
  readers, in place:

  - listing: the binaryFile source over the landing folder (cx_raw_dir) (recursiveFileLookup,
    content never read) gives every file's path, size and modification
    time; the four forms of an export are matched by path.
  - CSV: one external table per set of deliveries with the same header
    (schema cis_files, `using csv`, every header column as string, options
    header, multiLine so quoted line breaks work, quote and escape `"`,
    mode PERMISSIVE with a corrupt-record column). Columns are taken by
    name from each file's own header, read as its first line.
  - Parquet: one external table over the export's Parquet files
    (mergeSchema: columns by name); every column is cast to string.
  - cis.raw_X: a view over those tables with the contract columns (missing
    optional ones null, extra ones ignored), source_delivery
    (_metadata.file_name) and delivery_fingerprint (size-mtime_ms, the
    modification time in whole seconds as DuckDB's read_blob reports it),
    without the malformed records (below).

  Malformed records (what differs from DuckDB's strict reader): Spark's
  PERMISSIVE mode sets the corrupt-record column for a record with fewer or
  more fields than the header (an unterminated quote swallows the rest of
  the file into one such record) and decodes invalid UTF-8 as U+FFFD
  instead of failing, so a value holding U+FFFD counts as invalid UTF-8.
  Spark has no record number: a file is read by one task in file order
  (multiLine files are not split), so the line is the record's position in
  its file plus one for the header, as DuckDB counts it. The field count
  found is taken from the raw text (fields outside quotes).
-#}

{% macro spark__cis_all_raw_files() -%}
    {%- set listing = 'cis_raw_dir_files' -%}
    {%- do run_query("create or replace temporary view " ~ listing ~ " using binaryFile options (path "
        ~ cx_string_literals([spark__cis_glob_escape(cx_raw_dir())]) ~ ", recursiveFileLookup 'true')") -%}
    {%- set sql -%}
        select path, cast(length as string) || '-' || cast(unix_seconds(modificationTime) * 1000 as string) as fingerprint
        from {{ listing }}
    {%- endset -%}
    {{ return(run_query(sql).rows) }}
{%- endmacro %}

{% macro spark__cis_export_files(name) -%}
    {{ return(spark__cis_export_files_in(name, spark__cis_all_raw_files())) }}
{%- endmacro %}

{#- The deliveries of one export in a listing of raw_dir (spark__cis_all_raw_files). -#}
{% macro spark__cis_export_files_in(name, listing) -%}
    {%- set files = [] -%}
    {%- set seen_forms = [] -%}
    {%- set rows = [] -%}
    {#- the listing is recursive and its paths qualified (file:/..., s3a://...):
        raw_dir itself is the deepest folder holding every listed file, so
        raw_X.csv lies one level below it and raw_X/*.csv two -#}
    {%- set common = {'parts': none} -%}
    {%- for row in listing -%}
        {%- set d = row[0].split('/')[:-1] -%}
        {%- if common.parts is none -%}
            {%- do common.update({'parts': d}) -%}
        {%- else -%}
            {%- set shared = [] -%}
            {%- for i in range([d | length, common.parts | length] | min) -%}
                {%- if shared | length == i and d[i] == common.parts[i] -%}{%- do shared.append(d[i]) -%}{%- endif -%}
            {%- endfor -%}
            {%- do common.update({'parts': shared}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set depth = (common.parts or []) | length -%}
    {%- for row in listing -%}
        {%- set path = row[0] -%}
        {%- set parts = path.split('/') -%}
        {%- set delivery = parts[-1] -%}
        {%- set in_folder = parts | length == depth + 2 and parts[-2] == name -%}
        {%- set single = parts | length == depth + 1 and delivery in [name ~ '.csv', name ~ '.parquet'] -%}
        {%- set kind = 'parquet' if delivery.endswith('.parquet') else ('csv' if delivery.endswith('.csv') else none) -%}
        {%- if kind and (single or in_folder) -%}
            {%- do rows.append({'path': path, 'delivery': delivery, 'fingerprint': row[1], 'kind': kind, 'in_folder': in_folder}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for f in rows | sort(attribute='path') | sort(attribute='delivery') -%}
        {%- set form = (name ~ '/') if f.in_folder else f.delivery -%}
        {%- if form not in seen_forms -%}{%- do seen_forms.append(form) -%}{%- endif -%}
        {%- do files.append({'path': f.path, 'delivery': f.delivery, 'fingerprint': f.fingerprint, 'kind': f.kind}) -%}
    {%- endfor -%}
    {%- do cis_check_export_forms(name, files, seen_forms) -%}
    {{ return(files) }}
{%- endmacro %}

{#- The delivery (file name) of the row being read: Spark gives
    _metadata.file_name URL-encoded (a space as %20), the listing gives it
    plain; `+` is a plus sign in a path, not an encoded space. -#}
{% macro spark__cis_delivery_name() -%}
    url_decode(replace(_metadata.file_name, '+', '%2B'))
{%- endmacro %}

{#- A path as a Hadoop glob that matches only itself (its glob characters escaped). -#}
{% macro spark__cis_glob_escape(path) -%}
    {#- (a `set` inside a for loop does not outlive the loop in Jinja: one chain) -#}
    {{ return(path | replace('\\', '\\\\') | replace('{', '\\{') | replace('}', '\\}') | replace(',', '\\,')
                   | replace('[', '\\[') | replace(']', '\\]') | replace('*', '\\*') | replace('?', '\\?')) }}
{%- endmacro %}

{#- A Hadoop glob naming exactly the given files of one folder. -#}
{% macro spark__cis_path_glob(paths) -%}
    {%- set folder = spark__cis_glob_escape(paths[0].rsplit('/', 1)[0]) -%}
    {%- set names = [] -%}
    {%- for p in paths -%}
        {%- do names.append(spark__cis_glob_escape(p.rsplit('/', 1)[1])) -%}
    {%- endfor -%}
    {%- if names | length == 1 -%}
        {{ return(folder ~ '/' ~ names[0]) }}
    {%- endif -%}
    {{ return(folder ~ '/{' ~ names | join(',') ~ '}') }}
{%- endmacro %}

{#- The header (column names) of each CSV file: its first line. -#}
{% macro spark__cis_csv_headers(files) -%}
    {%- set headers = {} -%}
    {%- set csvs = files | selectattr('kind', 'equalto', 'csv') | list -%}
    {%- for batch in csvs | batch(100) -%}
        {%- set sql -%}
            {%- for f in batch %}
            select {{ loop.index0 }} as file_index, value from (select value from text.`{{ spark__cis_glob_escape(f.path) | replace('`', '``') }}` limit 1) as h{{ loop.index0 }}
            {{ "union all" if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- for row in run_query(sql).rows -%}
            {%- set names = [] -%}
            {%- for h in (row[1] or '').replace('\ufeff', '').split(',') -%}
                {%- do names.append(h.strip().strip('"').strip()) -%}
            {%- endfor -%}
            {%- do headers.update({batch[row[0]].path: names}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for f in csvs if f.path not in headers -%}
        {{ exceptions.raise_compiler_error(f.path ~ ": empty file (no header)") }}
    {%- endfor -%}
    {{ return(headers) }}
{%- endmacro %}

{% macro spark__cis_csv_options() -%}
    header 'true', multiLine 'true', quote '"', escape '"', encoding 'UTF-8',
    mode 'PERMISSIVE', columnNameOfCorruptRecord '_corrupt_record', enforceSchema 'true',
    ignoreLeadingWhiteSpace 'false', ignoreTrailingWhiteSpace 'false'
{%- endmacro %}

{#- (Re)create the file tables of one export in schema cis_files:
    [{table, kind, header, paths}] -#}
{% macro spark__cis_file_tables(name, files) -%}
    {%- do run_query('create schema if not exists cis_files') -%}
    {%- for row in run_query("show tables in cis_files like '" ~ name ~ "__*'").rows -%}
        {%- do run_query('drop table if exists cis_files.' ~ row[1]) -%}
    {%- endfor -%}
    {%- set tables = [] -%}
    {%- set by_header = {} -%}
    {%- set headers = spark__cis_csv_headers(files) -%}
    {%- for f in files if f.kind == 'csv' -%}
        {%- set header = headers[f.path] -%}
        {%- set key = header | join(',') -%}
        {%- if key not in by_header -%}
            {%- do by_header.update({key: {'table': 'cis_files.' ~ name ~ '__csv_' ~ (by_header | length + 1), 'kind': 'csv', 'header': header, 'paths': []}}) -%}
            {%- do tables.append(by_header[key]) -%}
        {%- endif -%}
        {%- do by_header[key]['paths'].append(f.path) -%}
    {%- endfor -%}
    {%- set parquets = files | selectattr('kind', 'equalto', 'parquet') | map(attribute='path') | list -%}
    {%- if parquets -%}
        {%- do tables.append({'table': 'cis_files.' ~ name ~ '__parquet', 'kind': 'parquet', 'header': [], 'paths': parquets}) -%}
    {%- endif -%}
    {%- for t in tables -%}
        {%- if t.kind == 'csv' -%}
            {%- set sql -%}
                create table {{ t.table }} (
                    {%- for h in t.header %}{{ adapter.quote(h) }} string, {% endfor -%} _corrupt_record string)
                using csv
                options (path {{ cx_string_literals([spark__cis_path_glob(t.paths)]) }}, {{ spark__cis_csv_options() }})
            {%- endset -%}
            {%- do run_query(sql) -%}
        {%- else -%}
            {%- do run_query("create table " ~ t.table ~ " using parquet options (path " ~ cx_string_literals([spark__cis_path_glob(t.paths)]) ~ ", mergeSchema 'true')") -%}
            {%- do t.update({'header': run_query('select * from ' ~ t.table ~ ' limit 0').column_names | list}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tables) }}
{%- endmacro %}

{#- A value that held invalid UTF-8 (Spark decodes it as U+FFFD; a Spark
    string literal takes the \u escape, char(n) would be n % 256). -#}
{% macro spark__cis_has_replacement_char(columns) -%}
    {%- if columns | length == 0 -%}false{%- else -%}
    coalesce(instr(concat_ws('', {% for c in columns %}{{ adapter.quote(c) }}{{ ", " if not loop.last }}{% endfor %}), '\uFFFD') > 0, false)
    {%- endif -%}
{%- endmacro %}

{% macro spark__cis_register_sources() -%}
    {%- do run_query('create schema if not exists cis') -%}
    {#- one listing of raw_dir for every export -#}
    {%- set all_files = spark__cis_all_raw_files() -%}
    {%- set listing = {} -%}
    {%- for name in cis_export_names() -%}
        {%- set files = spark__cis_export_files_in(name, all_files) -%}
        {%- do listing.update({name: files}) -%}
        {%- set columns = cis_contract_columns(name) -%}
        {%- set parts = [] -%}
        {%- for t in spark__cis_file_tables(name, files) -%}
            {%- set part -%}
    select
        {%- for c in columns %}
        {% if c in t.header %}cast({{ adapter.quote(c) }} as string){% else %}cast(null as string){% endif %} as {{ c }},
        {%- endfor %}
        {{ spark__cis_delivery_name() }} as source_delivery,
        cast(_metadata.file_size as string) || '-' || cast(unix_seconds(_metadata.file_modification_time) * 1000 as string) as delivery_fingerprint
    from {{ t.table }}
    {%- if t.kind == 'csv' %}
    where _corrupt_record is null and not {{ spark__cis_has_replacement_char(t.header) }}
    {%- endif %}
            {%- endset -%}
            {%- do parts.append(part) -%}
        {%- endfor -%}
        {%- do run_query('create or replace view cis.' ~ name ~ ' as ' ~ parts | join('\n    union all\n')) -%}
    {%- endfor -%}
    {{ return(listing) }}
{%- endmacro %}

{#- The given deliveries of an export, from its source view (registered at
    the start of the run over every delivery). -#}
{% macro spark__cis_read_files(name, files) -%}
    {%- set columns = cis_contract_columns(name) -%}
    select
        {%- for c in columns %}
        {{ c }},
        {%- endfor %}
        source_delivery,
        delivery_fingerprint
    from cis.{{ name }}
    where source_delivery in ({{ cx_string_literals(files | map(attribute='delivery') | list) }})
{%- endmacro %}

{#- Malformed CSV records of the given deliveries (see the top of this file):
    [{delivery, fingerprint, line, reason, text}]. -#}
{% macro spark__cis_malformed_records(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute -%}{{ return(out) }}{%- endif -%}
    {%- set by_delivery = {} -%}
    {%- for f in files -%}{%- do by_delivery.update({f.delivery: f}) -%}{%- endfor -%}
    {%- set tables = [] -%}
    {%- for row in run_query("show tables in cis_files like '" ~ name ~ "__csv_*'").rows -%}{%- do tables.append('cis_files.' ~ row[1]) -%}{%- endfor -%}
    {%- for t in tables -%}
        {%- set header = run_query('select * from ' ~ t ~ ' limit 0').column_names | reject('equalto', '_corrupt_record') | list -%}
        {%- set sql -%}
            select file_name, line, corrupt, bad_utf8, raw_text,
                size(split(regexp_replace(raw_text, '"([^"]|"")*"', ''), ',', -1)) as fields_found,
                length(raw_text) - length(replace(raw_text, '"', '')) as quotes
            from (
                select
                    file_name,
                    row_number() over (partition by file_name order by record_order) + 1 as line,
                    _corrupt_record is not null as corrupt,
                    bad_utf8,
                    coalesce(_corrupt_record, concat_ws(',', {% for h in header %}coalesce({{ adapter.quote(h) }}, ''){{ ", " if not loop.last }}{% endfor %})) as raw_text
                from (
                    select *, {{ spark__cis_delivery_name() }} as file_name, monotonically_increasing_id() as record_order,
                        {{ spark__cis_has_replacement_char(header) }} as bad_utf8
                    from {{ t }}
                    where {{ spark__cis_delivery_name() }} in ({{ cx_string_literals(files | map(attribute='delivery') | list) }})
                ) as records
            ) as numbered
            where corrupt or bad_utf8
            order by file_name, line
        {%- endset -%}
        {%- set n = header | length -%}
        {%- for row in run_query(sql).rows -%}
            {%- set reasons = [] -%}
            {%- if row[3] -%}{%- do reasons.append('invalid UTF-8') -%}{%- endif -%}
            {%- if row[2] -%}
                {%- if row[6] % 2 == 1 -%}{%- do reasons.append('unterminated quote') -%}
                {%- elif row[5] != n -%}{%- do reasons.append(n ~ ' fields expected, ' ~ row[5] ~ ' found') -%}
                {%- else -%}{%- do reasons.append('malformed record') -%}
                {%- endif -%}
            {%- endif -%}
            {%- set f = by_delivery[row[0]] -%}
            {%- do out.append({'delivery': f.delivery, 'fingerprint': f.fingerprint, 'line': row[1],
                               'reason': reasons | join('; '), 'text': (row[4] or '').strip('\r\n')}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- Values with a quote the file does not hold in quoted form (a stray quote
    in an unquoted field, kept by Spark's reader as a character), looked up
    in the file's whole text as DuckDB's version does: [{delivery, key, column}]. -#}
{% macro spark__cis_stray_quotes(name, files) -%}
    {%- set out = [] -%}
    {%- if not execute -%}{{ return(out) }}{%- endif -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ name] -%}
    {%- set text_cols = [] -%}
    {%- for c in node.columns.values() if c.meta.get('cis_type', 'text') == 'text' -%}{%- do text_cols.append(c.name) -%}{%- endfor -%}
    {%- set pk = node.meta.primary_key -%}
    {%- set key_parts = [] -%}
    {%- for k in pk -%}{%- do key_parts.append("coalesce(" ~ k ~ ", '')") -%}{%- endfor -%}
    {%- set by_delivery = {} -%}
    {%- for f in files if f.kind == 'csv' -%}{%- do by_delivery.update({f.delivery: f}) -%}{%- endfor -%}
    {%- if not by_delivery -%}{{ return(out) }}{%- endif -%}
    {%- set sql -%}
        select source_delivery, {{ key_parts | join(" || '|' || ") }} as key_text, column_name, value_text
        from (
            {%- for c in text_cols %}
            select source_delivery{% for k in pk %}, {{ k }}{% endfor %}, {{ cx_string_literals([c]) }} as column_name, {{ c }} as value_text
            from cis.{{ name }}
            where instr({{ c }}, '"') > 0
                and source_delivery in ({{ cx_string_literals(by_delivery.keys() | list) }})
            {{ "union all" if not loop.last }}
            {%- endfor %}
        ) as quoted
    {%- endset -%}
    {%- set candidates = run_query(sql).rows -%}
    {%- if candidates | length == 0 -%}{{ return(out) }}{%- endif -%}
    {%- set paths = [] -%}
    {%- for d in candidates | map(attribute=0) | unique -%}{%- do paths.append(by_delivery[d].path) -%}{%- endfor -%}
    {%- do run_query("create or replace temporary view cis_stray_quote_files using text options (path "
        ~ cx_string_literals([spark__cis_path_glob(paths)]) ~ ", wholetext 'true')") -%}
    {%- set sql -%}
        with quoted as (
            {%- for r in candidates %}
            select {{ cx_string_literals([r[0]]) }} as delivery, {{ cx_string_literals([r[1]]) }} as key_text,
                {{ cx_string_literals([r[2]]) }} as column_name, {{ cx_string_literals([r[3]]) }} as value_text
            {{ "union all" if not loop.last }}
            {%- endfor %}
        ),

        files as (
            select url_decode(replace(regexp_extract(input_file_name(), '([^/]*)$', 1), '+', '%2B')) as delivery, value as bytes_text
            from cis_stray_quote_files
        )

        select quoted.delivery, quoted.key_text, quoted.column_name
        from quoted
        inner join files on quoted.delivery = files.delivery
        where instr(files.bytes_text, '"' || replace(quoted.value_text, '"', '""') || '"') = 0
    {%- endset -%}
    {%- for row in run_query(sql).rows -%}
        {%- do out.append({'delivery': row[0], 'key': row[1], 'column': row[2]}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}
