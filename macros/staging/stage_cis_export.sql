{#-
  Stage one CIS export, driven by the contract metadata in
  models/staging/cis/_cis__sources.yml:
    1. collapse exact duplicate rows (raw_copies counts the copies),
    2. type every column strictly (cis_parse),
    3. flag, never drop, every row that breaks a rule, with all its reasons:
       required field empty, value that does not parse, value outside its
       domain, number outside its bounds, conflicting duplicate of the key,
       a NUL byte or a stray quote in a text value, plus any table-specific
       rule passed in `extra_rules` (a list of {"reason": text, "when": SQL
       over the typed columns}); malformed CSV records the reader could not
       split (macros/loading) are added as rejected rows with their line.
  Every rule is judged within one delivery (one file of the export). Across
  deliveries, a kept row whose key reappears as a kept row in a later
  delivery is superseded (latest delivery by file name wins); a rejected row
  supersedes nothing.
  Incremental: only deliveries not loaded yet (or re-sent with a new
  fingerprint) are read; deliveries already loaded that share a kept key with
  them are rewritten with recomputed flags (delete+insert by delivery).
  Output: the typed contract columns, then
    staging_row_id (hash of delivery and raw row; unique), primary_key_value
    (text, composite keys joined with '|'), source_delivery (file name),
    delivery_fingerprint, raw_copies, is_rejected, reject_reason,
    raw_row (the raw values as JSON text, rejected rows only; personal-data
    columns masked so that they never leave staging), source_line and
    malformed_line (malformed CSV records only: DuckDB's line number and the
    raw text, kept in staging for operators), is_superseded and
    is_in_force (kept and not superseded: the rows every model downstream reads).
-#}
{% macro stage_cis_export(table_name, extra_rules=[]) %}
{%- set relation = source('cis', table_name) -%}
{%- if execute -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ table_name] -%}
    {%- set columns = node.columns.values() | list -%}
    {%- set pk = node.meta.primary_key -%}
    {%- set all_files = cis_export_files(table_name) -%}
{%- else -%}
    {%- set columns = [] -%}
    {%- set pk = [] -%}
    {%- set all_files = [] -%}
{%- endif -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- set personal = [] -%}
{%- for c in columns if c.meta.get('personal_data') -%}{%- do personal.append(c.name) -%}{%- endfor -%}
{#- Deliveries to (re)load: all of them on a full build; on an incremental
    run those whose name and fingerprint the table does not hold yet. -#}
{%- set incremental = is_incremental() -%}
{%- if incremental and execute -%}
    {%- set loaded = [] -%}
    {%- for row in run_query('select distinct source_delivery, delivery_fingerprint from ' ~ this).rows -%}
        {%- do loaded.append(row[0] ~ '@' ~ row[1]) -%}
    {%- endfor -%}
    {%- set files = [] -%}
    {%- for f in all_files if (f.delivery ~ '@' ~ f.fingerprint) not in loaded -%}{%- do files.append(f) -%}{%- endfor -%}
{%- else -%}
    {%- set files = all_files -%}
{%- endif -%}
{%- set new_deliveries = files | map(attribute='delivery') | list -%}
{#- Malformed CSV records (invalid UTF-8, wrong field count, unterminated
    quote) the reader skipped: each becomes one rejected row with its line. -#}
{%- set malformed = cis_malformed_records(table_name, files) if (execute and files) else [] -%}
{%- set stray = cis_stray_quotes(table_name, files) if (execute and files) else [] -%}
{%- if malformed | length > var('max_malformed_records_per_run', 10000) -%}
    {{ exceptions.raise_compiler_error(table_name ~ ": " ~ malformed | length ~ " malformed CSV records in "
        ~ (malformed | map(attribute='delivery') | unique | join(', ')) ~ "; the extract is broken, not a few bad records") }}
{%- endif -%}
{%- set new_list -%}({% for d in new_deliveries %}'{{ d }}'{{ ", " if not loop.last }}{% endfor %}){%- endset %}
-- depends_on: {{ relation }}
with raw_rows as (
    select
        source_delivery,
        delivery_fingerprint,
        {%- for c in columns %}
        nullif({{ c.name }}, '') as {{ c.name }}{{ "," if not loop.last }}
        {%- endfor %}
    from (
        {%- if files %}
        {{ cis_read_files(table_name, files) }}
        {%- else %}
        select * from {{ relation }} where 1 = 0
        {%- endif %}
    ) as deliveries
),

collapsed as (
    -- exact duplicates within a delivery: one copy is kept, raw_copies - 1 are duplicates
    select
        source_delivery,
        delivery_fingerprint,
        {%- for c in columns %}
        {{ c.name }},
        {%- endfor %}
        count(*) as raw_copies
    from raw_rows
    group by source_delivery, delivery_fingerprint{% for c in columns %}, {{ c.name }}{% endfor %}
),

typed as (
    select
        source_delivery,
        delivery_fingerprint,
        {%- for c in columns %}
        {{ cis_parse(c.meta.cis_type, c.name) }} as {{ c.name }},
        {%- endfor %}
        {%- for c in columns %}
        {{ c.name }} as raw__{{ c.name }},
        {%- endfor %}
        raw_copies,
        count(*) over (partition by source_delivery{% for k in pk %}, {{ k }}{% endfor %}) as rows_sharing_key
    from collapsed
),

checked as (
    select
        *,
        concat_ws('; ',
            {%- for c in columns %}
            {%- set m = c.meta %}
            {%- if m.get('required', true) %}
            case when raw__{{ c.name }} is null then 'missing required value: {{ c.name }}' end,
            {%- endif %}
            {%- if m.cis_type != 'text' %}
            case when raw__{{ c.name }} is not null and {{ c.name }} is null then 'not a valid {{ m.cis_type }}: {{ c.name }}' end,
            {%- else %}
            case when {{ cis_contains_nul('raw__' ~ c.name) }} then 'NUL byte in value: {{ c.name }}' end,
            {%- endif %}
            {%- if m.get('domain') %}
            case when {{ c.name }} not in ({% for v in m.domain %}'{{ v }}'{{ ", " if not loop.last }}{% endfor %}) then 'outside domain: {{ c.name }}' end,
            {%- endif %}
            {%- if m.get('min') is not none and m.get('min') == 0 %}
            case when {{ c.name }} < 0 then 'negative value: {{ c.name }}' end,
            {%- elif m.get('min') is not none %}
            case when {{ c.name }} < {{ m.min }} then 'below {{ m.min }}: {{ c.name }}' end,
            {%- endif %}
            {%- if m.get('max') is not none %}
            case when {{ c.name }} > {{ m.max }} then 'above {{ m.max }}: {{ c.name }}' end,
            {%- endif %}
            {%- endfor %}
            {%- for rule in extra_rules %}
            case when {{ rule.when }} then '{{ rule.reason }}' end,
            {%- endfor %}
            {%- for col in stray | map(attribute='column') | unique %}
            case when source_delivery || '@' || {{ cis_key_text(pk) }} in (
                {%- for r in stray if r.column == col %}'{{ (r.delivery ~ '@' ~ r.key) | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
            ) then 'stray quote in an unquoted field: {{ col }}' end,
            {%- endfor %}
            case when rows_sharing_key > 1 then 'conflicting duplicate of primary key in one delivery' end
        ) as reasons
    from typed
),

loaded as (
    select
        {%- for c in columns %}
        {{ c.name }},
        {%- endfor %}
        {{ dbt.hash(dbt.concat(["source_delivery", "'|'"] + cis_coalesced_raw(names))) }} as staging_row_id,
        {{ cis_key_text(pk) }} as primary_key_value,
        source_delivery,
        delivery_fingerprint,
        raw_copies,
        coalesce(reasons, '') <> '' as is_rejected,
        nullif(reasons, '') as reject_reason,
        case when coalesce(reasons, '') <> '' then {{ row_json(names, prefix='raw__', masked=personal) }} end as raw_row,
        cast(null as {{ dbt.type_int() }}) as source_line,
        cast(null as {{ dbt.type_string() }}) as malformed_line,
        cast(null as boolean) as was_superseded
    from checked
    {%- if malformed %}

    union all

    select
        {%- for c in columns %}
        cast(null as {{ cis_type_sql(c.meta.cis_type) }}) as {{ c.name }},
        {%- endfor %}
        {{ dbt.hash(dbt.concat(["source_delivery", "'|line '", dbt.cast("source_line", dbt.type_string())])) }} as staging_row_id,
        cast(null as {{ dbt.type_string() }}) as primary_key_value,
        source_delivery,
        delivery_fingerprint,
        1 as raw_copies,
        true as is_rejected,
        reject_reason,
        {{ row_json(['raw_line'], masked=(['raw_line'] if personal else [])) }} as raw_row,
        cast(source_line as {{ dbt.type_int() }}) as source_line,
        raw_line as malformed_line,
        cast(null as boolean) as was_superseded
    from (
        values
        {%- for r in malformed %}
        ('{{ r.delivery }}', '{{ r.fingerprint }}', {{ r.line }}, '{{ r.reason | replace("'", "''") }}', '{{ r.text | replace("'", "''") }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as malformed_records (source_delivery, delivery_fingerprint, source_line, reject_reason, raw_line)
    {%- endif %}
),

{%- if incremental %}

-- keys whose row in force may change: kept keys of the deliveries loaded now,
-- and of the earlier version of a delivery that is loaded again
touched_keys as (
    select primary_key_value from loaded where not is_rejected
    union
    select primary_key_value from {{ this }}
    where not is_rejected and source_delivery in {{ new_list if new_deliveries else "('')" }}
),

-- deliveries already loaded that hold a kept row of a touched key are
-- rewritten whole (delete+insert by delivery) with their flags recomputed
carried as (
    select
        {%- for c in columns %}
        {{ c.name }},
        {%- endfor %}
        staging_row_id,
        primary_key_value,
        source_delivery,
        delivery_fingerprint,
        raw_copies,
        is_rejected,
        reject_reason,
        raw_row,
        source_line,
        malformed_line,
        is_superseded as was_superseded
    from {{ this }}
    where
        source_delivery not in {{ new_list if new_deliveries else "('')" }}
        and source_delivery in (
            select this_table.source_delivery
            from {{ this }} as this_table
            inner join touched_keys on this_table.primary_key_value = touched_keys.primary_key_value
            where not this_table.is_rejected
        )
),

combined as (
    select * from loaded
    union all
    select * from carried
),
{%- else %}

combined as (
    select * from loaded
),
{%- endif %}

superseding as (
    -- the latest delivery holding a kept row of each touched key (on a full
    -- build every key is touched)
    select
        combined.primary_key_value,
        max(combined.source_delivery) as latest_delivery
    from combined
    {%- if incremental %}
    inner join touched_keys on combined.primary_key_value = touched_keys.primary_key_value
    {%- endif %}
    where not combined.is_rejected
    group by combined.primary_key_value
)

select
    {%- for c in columns %}
    combined.{{ c.name }},
    {%- endfor %}
    combined.staging_row_id,
    combined.primary_key_value,
    combined.source_delivery,
    combined.delivery_fingerprint,
    combined.raw_copies,
    combined.is_rejected,
    combined.reject_reason,
    combined.raw_row,
    combined.source_line,
    combined.malformed_line,
    coalesce(
        case when not combined.is_rejected and superseding.latest_delivery is not null
            then combined.source_delivery < superseding.latest_delivery end,
        combined.was_superseded,
        false
    ) as is_superseded,
    not combined.is_rejected and not coalesce(
        case when not combined.is_rejected and superseding.latest_delivery is not null
            then combined.source_delivery < superseding.latest_delivery end,
        combined.was_superseded,
        false
    ) as is_in_force
from combined
left join superseding on combined.primary_key_value = superseding.primary_key_value
{% endmacro %}

{#- The raw values as text pieces for hashing; NULL and '' stay distinct. -#}
{% macro cis_coalesced_raw(names) -%}
    {%- set parts = [] -%}
    {%- for n in names -%}
        {%- do parts.append("coalesce('=' || raw__" ~ n ~ ", '~')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ return(parts) }}
{%- endmacro %}

{% macro cis_key_text(pk) -%}
    {%- if pk | length == 1 -%}
    raw__{{ pk[0] }}
    {%- else -%}
    {%- set parts = [] -%}
    {%- for k in pk -%}
        {%- do parts.append("coalesce(raw__" ~ k ~ ", '')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
    {%- endif -%}
{%- endmacro %}
