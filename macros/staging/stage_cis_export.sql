{#- Staging of one CIS export, in four steps a stg_cis__* model lists in
    order, each a macro below over the export's context (cis_export):

    1. cis_read_deliveries      raw_rows: the rows of the deliveries to load, as text
    2. cis_collapse_duplicates  shared_keys, shared_collapsed: keys held by more than
                                one raw row, and their exact copies counted once
    3. cis_type_and_flag        single_rows, shared_rows: every column typed strictly
                                (cis_parse); single_loaded, shared_loaded: every rule
                                checked (cis__loaded_rows), malformed CSV records added
                                as rejected rows with their line
    4. cis_supersede            the latest delivery of each kept key is in force; on an
                                incremental run the deliveries already loaded that share
                                a key with the new ones are rewritten with new flags

  The rules (models/staging/cis/_cis__sources.yml, docs/contract/cis-exports.md):
  a required field empty, a value that does not parse, a value outside its
  domain, a number outside its bounds, a conflicting duplicate of the key in
  one delivery, a NUL byte or a stray quote in a text value, plus any
  table-specific rule (the source table's meta `row_rules`: [{reason, when:
  SQL over the typed columns}]); all of them listed by cis_contract_rules. A row is flagged, never dropped, with all its reasons.
  Every rule is judged within one delivery; across deliveries a kept row
  whose key reappears as a kept row in a later delivery is superseded
  (latest delivery by file name wins); a rejected row supersedes nothing.
  Cost: one pass over the export plus an aggregate of its keys; only the rows
  of keys held by more than one raw row (copies, conflicts, corrections) go
  through the collapse, the window and the supersede.
  Output: the typed contract columns, then staging_row_id, primary_key_value,
  source_delivery, delivery_fingerprint, raw_copies, is_rejected,
  reject_reason, raw_row (rejected rows only; personal-data columns masked),
  source_line and malformed_line (malformed CSV records only), is_superseded,
  is_in_force and loaded_at (column descriptions: _cis__models.yml).
-#}

{#- The export's context for the steps: its contract (columns, key,
    personal-data columns, extra rules) and the deliveries this run loads
    (all on a full build; on an incremental run those the intake listed since
    the model's last run), with their malformed records and stray quotes. -#}
{% macro cis_export(table_name) -%}
{%- set relation = source('cis', table_name) -%}
{%- if execute -%}
    {%- set node = graph.sources['source.cx_warehouse.cis.' ~ table_name] -%}
    {%- set columns = node.columns.values() | list -%}
    {%- set pk = node.meta.primary_key -%}
    {%- set all_files = cis_manifest_files(table_name) -%}
    {%- set rules = cis_contract_rules(node) -%}
{%- else -%}
    {%- set columns = [] -%}
    {%- set pk = [] -%}
    {%- set all_files = [] -%}
    {%- set rules = [] -%}
{%- endif -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- set personal = [] -%}
{%- for c in columns if c.meta.get('personal_data') -%}{%- do personal.append(c.name) -%}{%- endfor -%}
{#- Deliveries to (re)load: all of them on a full build; on an incremental
    run those the intake listed since this model's last run (cx_change_plan
    over the delivery manifest): new files, and files re-sent with a new size
    or modification time. -#}
{%- set incremental = is_incremental() -%}
{%- set files = all_files -%}
{%- if incremental and execute and flags.WHICH in cis_intake_commands() -%}
    {%- set listed -%}
        (select source_delivery, listed_at from cis.deliveries where export_name = {{ cx_string_literals([table_name]) }})
    {%- endset -%}
    {%- set changes = cx_change_plan(listed, 'source_delivery', stamp='listed_at') -%}
    {%- if changes is not none -%}
        {%- set changed = run_query(changes.changed_keys).columns[0].values() -%}
        {%- set files = all_files | selectattr('delivery', 'in', changed) | list -%}
    {%- endif -%}
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
{%- set new_list -%}({{ cx_string_literals(new_deliveries) }}){%- endset %}
{{ return({'table_name': table_name, 'relation': relation, 'columns': columns, 'pk': pk, 'names': names,
           'personal': personal, 'incremental': incremental, 'files': files, 'new_deliveries': new_deliveries,
           'new_list': new_list, 'malformed': malformed, 'stray': stray, 'rules': rules}) }}
{%- endmacro %}

{#- Step 1: raw_rows, the rows of the deliveries to load, every value text
    ('' as null). Opens the model's `with`. -#}
{% macro cis_read_deliveries(e) -%}
{%- set columns = e.columns -%}
-- depends_on: {{ e.relation }}
with raw_rows as {{ cte_not_materialized() }} (
    select
        source_delivery,
        delivery_fingerprint,
        {%- for c in columns %}
        nullif({{ c.name }}, '') as {{ c.name }}{{ "," if not loop.last }}
        {%- endfor %}
    from (
        {%- if e.files %}
        {{ cis_read_files(e.table_name, e.files) }}
        {%- else %}
        select * from {{ e.relation }} where 1 = 0
        {%- endif %}
    ) as deliveries
)
{%- endmacro %}

{#- Step 2: shared_keys (keys held by more than one raw row) and
    shared_collapsed (their rows, exact copies within a delivery counted
    once in raw_copies). -#}
{% macro cis_collapse_duplicates(e) -%}
{%- set columns, pk = e.columns, e.pk -%}
-- keys (as delivered text) held by more than one raw row: only their rows can
-- be exact copies, conflicting duplicates or superseded. Every other row is
-- alone with its key, so the collapse, the window and the supersede below run
-- on these few keys instead of the whole export (a big feed costs one typed
-- pass and one aggregate of its keys, not a sort of every row).
-- Keys are compared by a hash (cis_key_hash): a collision only sends a few
-- more rows down the exact path, which compares the keys themselves.
shared_keys as (
    select
        {{ cis_key_hash(pk) }} as key_hash,
        count(*) as key_rows
    from raw_rows
    group by {{ cis_key_hash(pk) }}
    having count(*) > 1
),

-- exact duplicates within a delivery: one copy is kept, raw_copies - 1 are duplicates
shared_collapsed as (
    select
        raw_rows.source_delivery,
        raw_rows.delivery_fingerprint,
        {%- for c in columns %}
        raw_rows.{{ c.name }},
        {%- endfor %}
        count(*) as raw_copies
    from raw_rows
    inner join shared_keys
        on {{ cis_key_hash(pk, 'raw_rows.') }} = shared_keys.key_hash
    group by
        raw_rows.source_delivery,
        raw_rows.delivery_fingerprint
        {%- for c in columns %},
        raw_rows.{{ c.name }}
        {%- endfor %}
)
{%- endmacro %}

{#- Step 3: single_rows and shared_rows (typed, with the raw text beside
    each value and the count of rows sharing the key in their delivery),
    then single_loaded and shared_loaded (every rule checked; malformed CSV
    records added as rejected rows). -#}
{% macro cis_type_and_flag(e) -%}
{%- set columns, pk, names, personal, rules, stray, malformed = e.columns, e.pk, e.names, e.personal, e.rules, e.stray, e.malformed -%}
single_rows as {{ cte_not_materialized() }} (
    select
        raw_rows.source_delivery,
        raw_rows.delivery_fingerprint,
        {%- for c in columns %}
        {{ cis_parse(c.meta.cis_type, 'raw_rows.' ~ c.name) }} as {{ c.name }},
        {%- endfor %}
        {%- for c in columns %}
        raw_rows.{{ c.name }} as raw__{{ c.name }},
        {%- endfor %}
        1 as raw_copies,
        1 as rows_sharing_key
    from raw_rows
    left join shared_keys
        on {{ cis_key_hash(pk, 'raw_rows.') }} = shared_keys.key_hash
    where shared_keys.key_rows is null
),

-- distinct rows of one delivery with the same key conflict
shared_rows as (
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
    from shared_collapsed
),

{#- the rule checks and the output columns, once for the rows alone with their
    key and once for the rows of shared keys -#}
{%- set rule_args = {'columns': columns, 'pk': pk, 'names': names, 'personal': personal,
                     'rules': rules, 'stray': stray} -%}
single_loaded as {{ cte_not_materialized() }} (
    {{ cis__loaded_rows('single_rows', rule_args) }}
),

shared_loaded as (
    {{ cis__loaded_rows('shared_rows', rule_args) }}
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
        ({{ cx_string_literals([r.delivery, r.fingerprint]) }}, {{ r.line }}, {{ cx_string_literals([r.reason, r.text]) }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as malformed_records (source_delivery, delivery_fingerprint, source_line, reject_reason, raw_line)
    {%- endif %}
)
{%- endmacro %}

{#- Step 4: supersede. The latest delivery holding a kept row of a key is
    in force; a full build judges the shared keys, an incremental run the
    keys its deliveries touch, rewriting the earlier deliveries that hold
    them. Ends the model with its select. -#}
{% macro cis_supersede(e) -%}
{%- set columns, pk, new_deliveries, new_list = e.columns, e.pk, e.new_deliveries, e.new_list -%}
{%- if e.incremental %}

loaded as (
    select * from single_loaded
    union all
    select * from shared_loaded
),

-- keys whose row in force may change: kept keys of the deliveries loaded now,
-- and of the earlier version of a delivery that is loaded again
touched_keys as (
    select primary_key_value{% for k in pk %}, {{ k }}{% endfor %} from loaded where not is_rejected
    union
    select primary_key_value{% for k in pk %}, {{ k }}{% endfor %} from {{ this }}
    where not is_rejected and source_delivery in {{ new_list if new_deliveries else "('')" }}
),

-- deliveries already loaded that hold a kept row of a touched key are
-- rewritten whole (delete+insert by delivery) with their flags recomputed
carried as (
    select
        {{ cis__staged_columns(columns) | indent(8) }},
        is_superseded as was_superseded
    from {{ this }}
    where
        source_delivery not in {{ new_list if new_deliveries else "('')" }}
        and source_delivery in (
            select this_table.source_delivery
            from {{ this }} as this_table
            -- the typed key columns repeat the text key's equality so that the
            -- engine can prune the big table by their ranges (zone maps)
            inner join touched_keys
                on this_table.primary_key_value = touched_keys.primary_key_value
                {%- for k in pk %}
                and this_table.{{ k }} = touched_keys.{{ k }}
                {%- endfor %}
            where not this_table.is_rejected
        )
),

combined as (
    select * from loaded
    union all
    select * from carried
),

-- the latest delivery holding a kept row of each touched key
superseding as (
    select
        combined.primary_key_value,
        max({{ cx_bytewise('combined.source_delivery') }}) as latest_delivery
    from combined
    inner join touched_keys on combined.primary_key_value = touched_keys.primary_key_value
    where not combined.is_rejected
    group by combined.primary_key_value
)

{{ cis__final_rows('combined', columns) }}

{%- else %}

-- the latest delivery holding a kept row of each key held by more than one row
superseding as (
    select
        primary_key_value,
        max({{ cx_bytewise('source_delivery') }}) as latest_delivery
    from shared_loaded
    where not is_rejected
    group by primary_key_value
)

-- a row alone with its key is neither superseded nor superseding
select
    {{ cis__staged_columns(columns) | indent(4) }},
    false as is_superseded,
    not is_rejected as is_in_force,
    {{ cx_loaded_at() }} as loaded_at
from single_loaded

union all

{{ cis__final_rows('shared_loaded', columns) }}
{%- endif %}
{%- endmacro %}

{#- The raw values as text pieces for hashing; NULL and '' stay distinct. -#}
{% macro cis_coalesced_raw(names) -%}
    {%- set parts = [] -%}
    {%- for n in names -%}
        {%- do parts.append("coalesce('=' || raw__" ~ n ~ ", '~')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ return(parts) }}
{%- endmacro %}

{% macro cis_key_text(pk, nulls=none) -%}
    {%- if pk | length == 1 and nulls is none -%}
    raw__{{ pk[0] }}
    {%- else -%}
    {%- set parts = [] -%}
    {%- for k in pk -%}
        {%- do parts.append("coalesce(raw__" ~ k ~ ", " ~ (nulls or "''") ~ ")") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
    {%- endif -%}
{%- endmacro %}

{#- The rule checks of stage_cis_export over `source` (a CTE of typed rows
    with raw__ columns, raw_copies, rows_sharing_key) and the output columns. -#}
{% macro cis__loaded_rows(source, a) -%}
    {%- set columns, pk, names, personal = a.columns, a.pk, a.names, a.personal -%}
    select
        {%- for c in columns %}
        {{ c.name }},
        {%- endfor %}
        -- delivery and key; a hash of the raw values when rows of one delivery conflict on the key
        case
            when rows_sharing_key = 1 then {{ dbt.concat(["source_delivery", "'|'", cis_key_text(pk, nulls="'~'")]) }}
            else {{ dbt.hash(dbt.concat(["source_delivery", "'|'"] + cis_coalesced_raw(names))) }}
        end as staging_row_id,
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
    from (
        select
            *,
            concat_ws('; ',
                {%- for rule in a.rules %}
                case when {{ rule.when }} then '{{ cx_escape_string(rule.reason) }}' end,
                {%- endfor %}
                {%- for col in a.stray | map(attribute='column') | unique %}
                case when source_delivery || '@' || {{ cis_key_text(pk) }} in (
                    {%- for r in a.stray if r.column == col %}'{{ cx_escape_string(r.delivery ~ '@' ~ r.key) }}'{{ ", " if not loop.last }}{% endfor -%}
                ) then 'stray quote in an unquoted field: {{ col }}' end,
                {%- endfor %}
                case when rows_sharing_key > 1 then 'conflicting duplicate of primary key in one delivery' end
            ) as reasons
        from {{ source }}
    ) as checked
{%- endmacro %}

{#- The contract's row rules of one export (its source node), in the order a
    row's reasons are listed: [{reason, when}], `when` a SQL condition over
    the typed columns (raw__X beside each: the text as delivered). Read from
    each column's meta (required, cis_type, domain, min, max), then the
    table's meta row_rules. Staging checks them (cis__loaded_rows); the test
    assert_rejected_rows_per_rule_within_tolerance counts the rows each rejects. -#}
{% macro cis_contract_rules(node) -%}
    {%- set rules = [] -%}
    {%- for c in node.columns.values() -%}
        {%- set m = c.meta -%}
        {%- if m.get('required', true) -%}
            {%- do rules.append({'reason': 'missing required value: ' ~ c.name, 'when': 'raw__' ~ c.name ~ ' is null'}) -%}
        {%- endif -%}
        {%- if m.cis_type != 'text' -%}
            {%- do rules.append({'reason': 'not a valid ' ~ m.cis_type ~ ': ' ~ c.name,
                                 'when': 'raw__' ~ c.name ~ ' is not null and ' ~ c.name ~ ' is null'}) -%}
        {%- else -%}
            {%- do rules.append({'reason': 'NUL byte in value: ' ~ c.name, 'when': cis_contains_nul('raw__' ~ c.name)}) -%}
        {%- endif -%}
        {%- if m.get('domain') -%}
            {%- do rules.append({'reason': 'outside domain: ' ~ c.name,
                                 'when': c.name ~ ' not in (' ~ cx_string_literals(m.domain) ~ ')'}) -%}
        {%- endif -%}
        {%- if m.get('min') is not none and m.get('min') == 0 -%}
            {%- do rules.append({'reason': 'negative value: ' ~ c.name, 'when': c.name ~ ' < 0'}) -%}
        {%- elif m.get('min') is not none -%}
            {%- do rules.append({'reason': 'below ' ~ m.min ~ ': ' ~ c.name, 'when': c.name ~ ' < ' ~ m.min}) -%}
        {%- endif -%}
        {%- if m.get('max') is not none -%}
            {%- do rules.append({'reason': 'above ' ~ m.max ~ ': ' ~ c.name, 'when': c.name ~ ' > ' ~ m.max}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for rule in node.meta.get('row_rules', []) -%}{%- do rules.append(rule) -%}{%- endfor -%}
    {{ return(rules) }}
{%- endmacro %}

{#- The output of a staging model from `source` (rows with was_superseded)
    left-joined to `superseding` (primary_key_value, latest_delivery). -#}
{% macro cis__final_rows(source, columns) -%}
select
    {{ cis__staged_columns(columns, source ~ '.') | indent(4) }},
    coalesce(
        case when not {{ source }}.is_rejected and superseding.latest_delivery is not null
            then {{ cx_bytewise(source ~ '.source_delivery') }} < {{ cx_bytewise('superseding.latest_delivery') }} end,
        {{ source }}.was_superseded,
        false
    ) as is_superseded,
    not {{ source }}.is_rejected and not coalesce(
        case when not {{ source }}.is_rejected and superseding.latest_delivery is not null
            then {{ cx_bytewise(source ~ '.source_delivery') }} < {{ cx_bytewise('superseding.latest_delivery') }} end,
        {{ source }}.was_superseded,
        false
    ) as is_in_force,
    {{ cx_loaded_at() }} as loaded_at
from {{ source }}
left join superseding on {{ source }}.primary_key_value = superseding.primary_key_value
{%- endmacro %}

{#- The columns every staged row carries, in order (contract columns, then
    the bookkeeping ones), optionally qualified. -#}
{% macro cis__staged_columns(columns, prefix='') -%}
    {%- set names = columns | map(attribute='name') | list + ['staging_row_id', 'primary_key_value', 'source_delivery',
        'delivery_fingerprint', 'raw_copies', 'is_rejected', 'reject_reason', 'raw_row', 'source_line', 'malformed_line'] -%}
    {%- for n in names %}{{ prefix ~ n }}{{ ",\n" if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- What the rejection tolerance counts for one export (its source node):
    the reasons of every contract rule (cis_contract_rules) and the three findings
    staging makes in the file itself: a conflicting duplicate of the key, a
    stray quote in a text column, a malformed record. A rejected row counts
    for a rule when its reject_reason lists it (a malformed record: when it
    has a source_line). -#}
{% macro cis_rejection_reasons(node) -%}
    {%- set reasons = cis_contract_rules(node) | map(attribute='reason') | list
        + ['conflicting duplicate of primary key in one delivery'] -%}
    {%- for c in node.columns.values() if c.meta.get('cis_type', 'text') == 'text' -%}
        {%- do reasons.append('stray quote in an unquoted field: ' ~ c.name) -%}
    {%- endfor -%}
    {%- do reasons.append('malformed CSV record') -%}
    {{ return(reasons) }}
{%- endmacro %}
