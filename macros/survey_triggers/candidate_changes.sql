{#- What int_survey_candidates computes again on a scheduled run, per kind of
    candidate (docs/incremental.md, "Survey candidates"), or none for
    everything: a full build, nothing stored, or `int_accounts` built again
    since the model's last run (every candidate's eligibility reads its
    account; cx_rebuilt_since_last_run also says true unless `make run` says
    the run's settings and code, the send window's hours among them, are the
    last build's). Otherwise a dict, per kind:
      all     true: every candidate of the kind is deleted and computed again
              (contacts: int_contacts carries no stamp; bills: int_bills was
              built again since, and is rebuilt whole)
      ids     SQL selecting the ids (column `changed_id`) whose candidate is
              computed again and whose stored row is deleted first: the
              staged rows written since (a new or re-sent delivery rewrites
              every row of a key it touches), or none for no id (bills that
              were not rebuilt)
      source  the staged relation and its id column, for the ids no longer
              staged at all (a re-sent delivery without a row it had: its
              stored candidate is deleted and not replaced)
    Read by the model's body and by its pre-hook; both see the same answer,
    because the pre-hook's delete and the insert come after both rendered. -#}
{% macro survey_candidates_plan() %}
    {%- set plan = cx_change_plan(none, none) %}
    {%- if plan is none or cx_rebuilt_since_last_run(ref('int_accounts'), plan.watermark) %}
        {{ return(none) }}
    {%- endif %}
    {%- set since = "cast('" ~ plan.watermark ~ "' as " ~ dbt.type_timestamp() ~ ")" %}
    {%- set kinds = {
        'bill': {'all': cx_rebuilt_since_last_run(ref('int_bills'), plan.watermark), 'ids': none, 'source': none},
        'contact': {'all': true, 'ids': none, 'source': none},
    } %}
    {%- for kind, relation, id_column in [('payment', ref('stg_cis__payments'), 'payment_id'),
                                         ('service_order', ref('stg_cis__service_orders'), 'service_order_id')] %}
        {%- do kinds.update({kind: {
            'all': false,
            'ids': 'select distinct ' ~ id_column ~ ' as changed_id from ' ~ relation ~ ' where loaded_at > ' ~ since,
            'source': {'relation': relation, 'id': id_column},
        }}) %}
    {%- endfor %}
    {{ return(kinds) }}
{% endmacro %}


{#- The condition (on the source rows of one kind, id column `id_column`)
    that keeps the rows int_survey_candidates computes for `kind` under
    `plan` (survey_candidates_plan): every row, none, or the changed ids. -#}
{% macro survey_candidates_filter(plan, kind, id_column) -%}
    {%- if plan is none or plan[kind]['all'] -%}
        1 = 1
    {%- elif plan[kind]['ids'] is none -%}
        1 = 0
    {%- else -%}
        {{ id_column }} in ({{ plan[kind]['ids'] }})
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook of int_survey_candidates: on a scheduled run, deletes the stored
    candidates the run computes again (survey_candidates_plan) and those
    whose source row is gone (cx_absent_from); renders nothing on a full
    build. Plain deletes, one per kind: on a copy of the 100 k candidates
    DuckDB ran them in 0.53-0.55 s, against 1.7-1.8 s for one delete whose
    condition ORs the kinds' subqueries (3.3 s inside a day's build,
    DECISIONLOG 139). -#}
{% macro survey_candidates_delete_recomputed() %}
    {%- if execute and is_incremental() %}
        {%- set plan = survey_candidates_plan() %}
        {%- set statements = [] %}
        {%- if plan is none %}
            {%- do statements.append('delete from ' ~ this) %}
        {%- else %}
            {%- for kind, what in plan.items() %}
                {%- set of_kind = 'delete from ' ~ this ~ " as stored where stored.trigger_type = '" ~ kind ~ "'" %}
                {%- if what['all'] %}
                    {%- do statements.append(of_kind) %}
                {%- elif what['ids'] is not none %}
                    {%- do statements.append(of_kind ~ ' and stored.trigger_id in (' ~ what['ids'] ~ ')') %}
                    {%- do statements.append(of_kind ~ ' and ' ~ cx_absent_from('stored.trigger_id', what['source']['relation'],
                                                                                what['source']['id'])) %}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{ statements | join(';
') }}
    {%- endif %}
{% endmacro %}
