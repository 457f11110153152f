{#-
  For a model computed from the attributed reads and stamped with loaded_at
  (int_ami_read_gaps, int_ami_bill_usage): the first read day R from which a
  scheduled run recomputes it, or none to recompute everything. Called from
  the model's body and from its post-hook, which must agree: both judge the
  same rows, those stored before this run and the attributed reads.

  What changed comes from cx_change_plan (macros/incremental/change_plan.sql):
  int_ami_reads_attributed rewrites whole read days and stamps them, so every
  read day changed since the model's rows were stored carries a later stamp
  than the newest of them, and the days before the first such day R are
  unchanged. When the meter installs or accounts change, the attribution
  recomputes every day, so R falls on the feed's first day and everything is
  recomputed. `stamps` are the model's input stamps (cx_change_plan).

  Returned as a dict {from_date, day_before} of 'YYYY-MM-DD' text, with the
  model's watermark (cx_change_plan's, 'YYYY-MM-DD HH:MM:SS'), or none:
  - when cx_change_plan says recompute everything (a full build, nothing
    stored, a stale input stamp);
  - when R is the feed's first day or earlier;
  - with require_day_before, when day R - 1 holds no attributed read (the
    stored gaps may then have been computed for a feed shorter than day R - 1,
    and cannot be trusted there).
  With no changed day, R is the day after the feed's last one.
-#}
{% macro ami_recompute_from(require_day_before=false, stamps={}) %}
    {%- set attributed = ref('int_ami_reads_attributed') %}
    {%- set changes = cx_change_plan(attributed, 'read_date', stamps) %}
    {%- if changes is none %}{{ return(none) }}{% endif %}
    {%- set first_changed = ("cast('" ~ changes.first_changed[:10] ~ "' as date)") if changes.first_changed else 'cast(null as date)' %}
    {%- set probe_sql %}
        with feed as (
            select
                min(read_date) as first_day,
                max(read_date) as last_day
            from {{ attributed }}
        ),

        plan as (
            select
                feed.first_day,
                coalesce({{ first_changed }}, cast({{ dbt.dateadd('day', 1, 'feed.last_day') }} as date)) as from_date
            from feed
        )

        select
            coalesce(from_date <= first_day, true) as from_feed_start,
            {{ dbt.cast('from_date', dbt.type_string()) }} as from_date,
            {{ dbt.cast(dbt.dateadd('day', -1, 'from_date'), dbt.type_string()) }} as day_before,
            exists (
                select 1
                from {{ attributed }}
                where read_date = cast({{ dbt.dateadd('day', -1, 'plan.from_date') }} as date)
            ) as day_before_held
        from plan
    {%- endset %}
    {%- set row = run_query(probe_sql).rows[0] %}
    {%- if row[0] or (require_day_before and not row[3]) %}{{ return(none) }}{% endif %}
    {{ return({'from_date': row[1][:10], 'day_before': row[2][:10], 'watermark': changes.watermark}) }}
{% endmacro %}


{#- Post-hook of int_ami_read_gaps: the stored gaps the run recomputed (every
    one, or those ending on or after day R - 1) give way to the rows it has
    just appended. -#}
{% macro ami_gaps_retire_recomputed() %}
    {%- if execute and is_incremental() %}
        {%- set plan = ami_recompute_from(require_day_before=true) %}
        delete from {{ this }}
        where
            loaded_at < {{ cx_loaded_at() }}
            {%- if plan %}
            and gap_end_date >= cast('{{ plan.day_before }}' as date)
            {%- endif %}
    {%- endif %}
{% endmacro %}


{#- The bills int_ami_bill_usage computes: every kept bill, or with a plan
    (a scheduled run) those whose service period ends on or after day R, and,
    when int_bills was built again since (`bills_changed`), those not stored
    yet and those whose bill row changed since it was stored. -#}
{% macro ami_bills_to_compute(plan, bills_changed=true) %}
    {%- set bill_columns = ['bill_id', 'account_id', 'billing_run_id', 'bill_date', 'service_period_start',
        'service_period_end', 'billed_kwh', 'is_estimated', 'is_rebill', 'is_corrected'] %}
    select
        {%- for c in bill_columns %}
        kept.{{ c }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('int_bills') }} as kept
    {%- if plan and bills_changed %}
    left join {{ this }} as stored on kept.bill_id = stored.bill_id
    where
        kept.service_period_end >= cast('{{ plan.from_date }}' as date)
        or {{ cx_row_differs('kept', 'stored', 'bill_id', bill_columns[1:]) }}
    {%- elif plan %}
    where kept.service_period_end >= cast('{{ plan.from_date }}' as date)
    {%- endif %}
{% endmacro %}
