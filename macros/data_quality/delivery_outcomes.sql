{#-
  The per-delivery accounts of intake (int_delivery_outcomes,
  int_rejected_rows, and int_ami_rejected_reads for the reads alone) are kept
  by delivery: a run recounts only the deliveries staging wrote since the
  model's last run. Staging replaces a
  delivery whole (delete+insert by source_delivery) and stamps every row it
  writes, so the deliveries written since a watermark are exactly those whose
  rows carry a newer stamp, and all of their rows do.
-#}

{#- Every staged row's export, delivery and stamp, as a parenthesised select
    (of the given exports, by default all 14): the upstream of cx_change_plan
    for these models. -#}
{% macro cx_staged_deliveries(exports=none) -%}
(
    {%- for name in (exports or cis_export_names()) %}
    select
        '{{ name }}' as source_file,
        source_delivery,
        loaded_at
    from {{ ref('stg_cis__' ~ name[4:]) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)
{%- endmacro %}

{#- What the model recounts: none (every delivery: a full build, or nothing
    stored yet) or cx_change_plan's answer, whose watermark bounds the staged
    rows to read (those stamped after it). -#}
{% macro cx_delivery_plan(exports=none) -%}
    {{ return(cx_change_plan(cx_staged_deliveries(exports), 'source_file')) }}
{%- endmacro %}

{#- The `where` clause of the staged rows of one export the model reads this
    run: all of them, or with a plan those of the deliveries written since its
    watermark; and, when given, only those meeting `condition`. -#}
{% macro cx_delivery_rows_filter(plan, condition=none) -%}
    {%- set conditions = [] %}
    {%- if plan %}
        {%- do conditions.append("loaded_at > cast('" ~ plan.watermark ~ "' as " ~ dbt.type_timestamp() ~ ")") %}
    {%- endif %}
    {%- if condition %}{% do conditions.append(condition) %}{% endif %}
    {%- if conditions %}
where {{ conditions | join(' and ') }}
    {%- endif %}
{%- endmacro %}

{#- Post-hook: the rows of the deliveries this run recounted, as stored
    before, leave (their new rows carry this run's stamp); with no plan,
    every older row. A model of one export's rows has no source_file column:
    its deliveries are matched by name alone. A mart that follows an intake
    model (dq_load_deliveries, dq_rejected_rows) passes `recounted`, the
    delivery outcomes, which hold a stamped row for every delivery intake
    recounted: it then depends on that model, not on the 14 staging models.
    A delivery the manifest listed anew since (cis.deliveries, listed_at: a
    re-sent file) leaves too, even with no row now: re-sent empty, staging
    holds nothing of it (cis_retire_emptied_deliveries), and neither does a
    full build. -#}
{% macro cx_retire_recounted_deliveries(exports=none, recounted=none) %}
    {%- if execute and is_incremental() %}
        {%- set plan = cx_change_plan(none, none) if recounted is not none else cx_delivery_plan(exports) %}
        {%- set written_rows = recounted if recounted is not none else cx_staged_deliveries(exports) %}
        {%- set one_export = exports and exports | length == 1 %}
        delete from {{ this }} as stored
        where
            stored.loaded_at < {{ cx_loaded_at() }}
            {%- if plan %}
            and (
                exists (
                    select 1
                    from {{ written_rows }} as written
                    where
                        written.loaded_at > cast('{{ plan.watermark }}' as {{ dbt.type_timestamp() }})
                        {%- if not one_export %}
                        and written.source_file = stored.source_file
                        {%- endif %}
                        and written.source_delivery = stored.source_delivery
                )
                or exists (
                    select 1
                    from {{ cis_listed_since(plan.watermark) }} as listed
                    where
                        listed.export_name = {{ cx_string_literals([exports[0]]) if one_export else 'stored.source_file' }}
                        and listed.source_delivery = stored.source_delivery
                )
            )
            {%- endif %}
    {%- endif %}
{% endmacro %}


{#- Post-hook of the 14 staging models: a delivery the intake listed anew
    since the model's last run (cis.deliveries, listed_at) was reloaded whole,
    so every row of it this run wrote carries this run's stamp; an older row
    of it is left only when the new version holds no row at all (re-sent
    empty: delete+insert by source_delivery deletes the deliveries the batch
    holds rows of). Such rows are deleted, as a full build of the folder holds
    none; the model itself has already recomputed which rows of their keys
    are in force. Nothing on a full build, nor on Spark (a partition
    overwrite cannot delete; its staging is rebuilt by a full refresh). -#}
{% macro cis_retire_emptied_deliveries() %}
    {%- if execute and is_incremental() and target.type != 'spark' %}
        {%- set plan = cx_change_plan(none, none) %}
        {%- if plan %}
        delete from {{ this }} as stored
        where
            stored.loaded_at < {{ cx_loaded_at() }}
            and stored.source_delivery in (
                select listed.source_delivery
                from {{ cis_listed_since(plan.watermark) }} as listed
                where listed.export_name = {{ cx_string_literals(['raw_' ~ this.identifier[9:]]) }}
            )
        {%- endif %}
    {%- endif %}
{% endmacro %}


{#- The deliveries the intake listed anew since `watermark` ('YYYY-MM-DD
    HH:MM:SS', a model's cx_change_plan watermark): new files and files
    re-sent with a new fingerprint, from the delivery manifest cis.deliveries
    (listed_at), as a parenthesised select of export_name and
    source_delivery. Read by the two post-hooks above. -#}
{% macro cis_listed_since(watermark) -%}
(
    select
        export_name,
        source_delivery
    from cis.deliveries
    where listed_at > cast('{{ watermark }}' as {{ dbt.type_timestamp() }})
)
{%- endmacro %}
