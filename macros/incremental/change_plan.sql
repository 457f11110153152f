{#-
  The one way an incremental model learns what changed since its last run
  (docs/incremental.md): staging from the delivery manifest, every model
  downstream of staging from the rows of its upstream.

  Every model of one dbt invocation stamps the rows it writes with the same
  loaded_at (cx_loaded_at). A model's watermark is the newest stamp it stored
  in an earlier run; the rows of its upstream stamped after that watermark are
  exactly the rows written since the model last ran (a run that skipped or
  failed the model leaves its watermark older, so the next run sees more).
  The model asks for the keys of those rows (read days, bills, accounts) and
  recomputes them.

  Input stamps: a model keeps, on every row, what the row was computed with
  (a var, the version of a dimension it joins). `stamps` maps each such
  column to the SQL of its current value; a stored row whose value differs,
  or is null, means every key is recomputed.

  The upstream's own stamp is `stamp` (default loaded_at; the delivery
  manifest's is listed_at, when the intake first listed a file); `upstream`
  is a relation or a parenthesised select, or none for a model whose
  upstream carries no stamp and which diffs its input rows against its own
  (int_survey_selection): the plan then says only whether stored rows can be
  kept (first_changed and changed_keys none).

  cx_change_plan(upstream, key, stamps={}, stamp) returns none (recompute
  everything: a full build, nothing stored yet, or a stale input stamp, the
  reason written to the log) or a dict:
    watermark      'YYYY-MM-DD HH:MM:SS', the newest stamp stored before this run
    first_changed  the smallest key of the upstream rows written since, as
                   text, or none when nothing upstream changed
    changed_keys   SQL selecting those keys (distinct) as column `changed_key`
  Read in the model's body and, where needed, its post-hook: both see the same
  answer, because the rows this run writes carry this run's stamp and the
  watermark is taken strictly before it.
  The upstream's key is compared as stored; the caller casts `first_changed`.
  On Spark the plan is read into literals (run_query): an insert_overwrite
  cannot read the table it overwrites.
-#}
{% macro cx_change_plan(upstream, key, stamps={}, stamp='loaded_at') %}
    {%- if not (execute and is_incremental()) %}{{ return(none) }}{% endif %}
    {#- a table stored by an older version of the model, without the stamp:
        no plan; the build then stops on the changed columns
        (on_schema_change: fail), which asks for --full-refresh -#}
    {%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list %}
    {%- if 'loaded_at' not in stored_columns %}
        {%- do log(this.identifier ~ ": the stored table has no loaded_at, every key is computed", info=true) %}
        {{ return(none) }}
    {%- endif %}
    {%- set probe_sql %}
        with watermark as (
            select max(loaded_at) as loaded_at
            from {{ this }}
            where loaded_at < {{ cx_loaded_at() }}
        ),

        stale as (
            select count(*) as stale_rows
            from {{ this }} as stored
            where
                {%- for column, current in stamps.items() %}
                stored.{{ column }} is null or stored.{{ column }} <> ({{ current }}){{ " or" if not loop.last }}
                {%- else %}
                1 = 0
                {%- endfor %}
        )

        select
            {{ dbt.cast('watermark.loaded_at', dbt.type_string()) }} as watermark,
            stale.stale_rows
        from watermark
        cross join stale
    {%- endset %}
    {%- set row = run_query(probe_sql).rows[0] %}
    {%- if row[0] is none %}
        {%- do log(this.identifier ~ ": nothing stored before this run, every key is computed", info=false) %}
        {{ return(none) }}
    {%- endif %}
    {%- if row[1] > 0 %}
        {%- do log(this.identifier ~ ": " ~ row[1] ~ " stored rows carry another " ~ (stamps.keys() | join(' or '))
                   ~ ", every key is recomputed", info=true) %}
        {{ return(none) }}
    {%- endif %}
    {%- set watermark = row[0][:19] %}
    {%- if upstream is none %}
        {{ return({'watermark': watermark, 'first_changed': none, 'changed_keys': none}) }}
    {%- endif %}
    {#- the watermark as a literal, so the engine skips the upstream's row
        groups stamped before it (a subquery bound reads every row's stamp) -#}
    {%- set first_changed_sql %}
        select {{ dbt.cast('min(changed_rows.' ~ key ~ ')', dbt.type_string()) }} as first_changed
        from {{ upstream }} as changed_rows
        where changed_rows.{{ stamp }} > cast('{{ watermark }}' as {{ dbt.type_timestamp() }})
    {%- endset %}
    {%- set first_changed = run_query(first_changed_sql).rows[0][0] %}
    {%- set changed_keys %}
        select distinct changed_rows.{{ key }} as changed_key
        from {{ upstream }} as changed_rows
        where changed_rows.{{ stamp }} > cast('{{ watermark }}' as {{ dbt.type_timestamp() }})
    {%- endset %}
    {{ return({'watermark': watermark, 'first_changed': first_changed, 'changed_keys': changed_keys}) }}
{% endmacro %}


{#- Whether `upstream`, a table rebuilt whole by the runs that select it and
    stamped with loaded_at (every row the run's start), may hold a change
    this model has not seen: false only when `make run` says the run's
    settings and code are those of the last build (env CX_SAME_SETTINGS,
    set when it selects the nodes downstream of the changed exports) and
    the table's newest stamp is not after `watermark`, this model's newest
    stamp before this run (cx_change_plan). True on a full build, on a plain
    `dbt build`, when the table carries no stamp (a warehouse built before
    it had one) or is empty, or when it was rebuilt, whatever the rebuild
    changed. A model that reads such a table learns from false that nothing
    there changed, and skips what it would otherwise diff (int_ami_bill_usage:
    the bills; int_metric_records: the bill records). -#}
{% macro cx_rebuilt_since_last_run(upstream, watermark) %}
    {%- if not execute or watermark is none or env_var('CX_SAME_SETTINGS', '') != '1' %}{{ return(true) }}{% endif %}
    {%- set upstream_columns = adapter.get_columns_in_relation(upstream) | map(attribute='name') | map('lower') | list %}
    {%- if 'loaded_at' not in upstream_columns %}{{ return(true) }}{% endif %}
    {%- set newest = run_query('select ' ~ dbt.cast('max(loaded_at)', dbt.type_string()) ~ ' from ' ~ upstream).rows[0][0] %}
    {{ return(newest is none or newest[:19] > watermark) }}
{% endmacro %}


{#- Whether nothing derived from the bills alone can have changed since a
    model's last run (`plan`: its cx_change_plan; none: false): neither
    int_bills nor int_accounts was built again since, with the same settings
    and code (cx_rebuilt_since_last_run). A model then leaves its bill rows
    out of what it computes and diffs (int_metric_records: the bill records;
    int_survey_selection: the bill candidates). -#}
{% macro cx_bills_unchanged_since_last_run(plan) %}
    {{ return(plan is not none
              and not cx_rebuilt_since_last_run(ref('int_bills'), plan.watermark)
              and not cx_rebuilt_since_last_run(ref('int_accounts'), plan.watermark)) }}
{% endmacro %}
