-- Cooldown (greedy selection) and the final suppression reason of every
-- candidate. Per account, the candidates without an eligibility reason are
-- taken in order (event_at, then contact < service_order < payment < bill,
-- then trigger_id); one whose event time is less than N days (var
-- survey_cooldown_days) after the event time of the account's LAST SELECTED
-- candidate is suppressed as cooldown, every other one is selected.
--
-- How (set-based pointers + a short recursion; the yml says why):
--   1. account_seq numbers the eligible candidates of an account 1, 2, 3, ...
--   2. next_seq of candidate i: the first candidate of the account at or
--      after event_at(i) + N days. A running count over the account's
--      timeline of candidates and "probe" rows at event_at + N days gives it
--      (a probe sorts before a candidate at the same instant, so exactly N
--      days later is far enough).
--   3. If i is selected, the next selected candidate is next_seq(i) and all
--      candidates in between are in i's cooldown, so the selected ones form
--      the chain 1 -> next_seq -> next_seq -> ... A recursive CTE follows it
--      for all accounts at once: one step per selected candidate of the
--      busiest account (data span / N + 1), not one per candidate
--      (macro survey_selected_chain; Spark, without recursion, folds each
--      account's pointer array instead).
--   4. Every other eligible candidate is cooldown; its anchor (kept for
--      audit) is the last selected candidate before it.
--
-- Incremental (delete+insert by trigger; a table on Spark; docs/incremental.md):
-- a scheduled run diffs the candidates against the stored rows, row by row
-- only in the partitions (trigger type, event day and one of 1,024 account
-- buckets) whose row counts or hash sums differ (cx_changed_partition_rows). Only the
-- accounts with a new, changed or dropped candidate are decided again, and
-- only from their last stored SELECTED candidate before the earliest change
-- (the restart anchor): every decision before it is unchanged, and the
-- greedy chain restarts there as its first link. A stored cooldown_days other
-- than the var recomputes every account; a post-hook removes dropped candidates.
-- The bill candidates are left out of the diff when neither int_bills nor
-- int_accounts was built again since the model's last run
-- (cx_bills_unchanged_since_last_run): they cannot have changed. They still
-- take part in the decisions of the accounts decided again.
-- depends_on: {{ ref('int_bills') }}, {{ ref('int_accounts') }} (cx_bills_unchanged_since_last_run reads their stamps)
{%- set cooldown_days = var('survey_cooldown_days', 30) %}
{{ config(**cx_incremental_config(
    'delete+insert', unique_key=['trigger_type', 'trigger_id'],
    post_hook="{{ cx_retire_dropped(ref('int_survey_candidates'), ['trigger_type', 'trigger_id']) }}")) }}
{%- set plan = cx_change_plan(none, none, stamps={'cooldown_days': cooldown_days | int}) %}
{%- set skip_bills = cx_bills_unchanged_since_last_run(plan) %}
{%- set partition_columns = ['trigger_type', 'event_date'] %}

with {{ cx_with_recursive() }} all_candidates as {{ cte_not_materialized() }} (
    select * from {{ ref('int_survey_candidates') }}
),
{%- if plan %}

stored as {{ cte_not_materialized() }} (
    -- read three times, each time as a scan (not a copy of the table)
    select * from {{ this }}
),

diffed_candidates as {{ cte_not_materialized() }} (
    select * from all_candidates
    {%- if skip_bills %}
    where trigger_type <> 'bill'
    {%- endif %}
),

diffed_stored as {{ cte_not_materialized() }} (
    select * from stored
    {%- if skip_bills %}
    where trigger_type <> 'bill'
    {%- endif %}
),

{{ cx_changed_partition_rows('diffed_candidates', 'diffed_stored', partition_columns, 'account_id',
                             ['trigger_id'] + survey_candidate_columns(), 'changed_candidates', 'changed_stored') }},

candidate_changes as (
    -- a candidate new, dropped or different from its stored row: both versions
    -- (both are in the partitions whose sums differ)
    select
        changed_candidates.trigger_type as current_trigger_type,
        changed_candidates.trigger_id as current_trigger_id,
        changed_candidates.account_id as current_account_id,
        changed_candidates.event_at as current_event_at,
        changed_stored.account_id as stored_account_id,
        changed_stored.event_at as stored_event_at
    from changed_candidates
    full outer join changed_stored
        on
            changed_candidates.trigger_type = changed_stored.trigger_type
            and changed_candidates.trigger_id = changed_stored.trigger_id
    where
        changed_candidates.trigger_id is null
        or {{ cx_row_differs('changed_candidates', 'changed_stored', 'trigger_id', survey_candidate_columns()) }}
),

touched_accounts as (
    -- every account that holds or held a changed candidate, from its earliest one
    select
        account_id,
        min(event_at) as changed_from
    from (
        select
            current_account_id as account_id,
            current_event_at as event_at
        from candidate_changes
        where current_trigger_id is not null
        union all
        select
            stored_account_id as account_id,
            stored_event_at as event_at
        from candidate_changes
    ) as changed_versions
    where account_id is not null
    group by account_id
),

restart_anchors as (
    -- per touched account, its last stored selected candidate before the change
    select
        account_id,
        trigger_type,
        trigger_id,
        event_at,
        trigger_type_rank
    from (
        select
            stored.account_id,
            stored.trigger_type,
            stored.trigger_id,
            stored.event_at,
            stored.trigger_type_rank,
            row_number() over (
                partition by stored.account_id
                order by stored.event_at desc, stored.trigger_type_rank desc, {{ cx_bytewise('stored.trigger_id') }} desc
            ) as recency
        from stored
        inner join touched_accounts on stored.account_id = touched_accounts.account_id
        where stored.is_selected and stored.event_at < touched_accounts.changed_from
    ) as selected_before
    where recency = 1
),

candidates as (
    -- the touched accounts' candidates from their restart anchor on (the anchor
    -- included, as the chain's first link, not written again), every candidate
    -- of an account without one, and changed candidates without an account
    select
        all_candidates.*,
        coalesce(
            all_candidates.trigger_type = restart_anchors.trigger_type
            and all_candidates.trigger_id = restart_anchors.trigger_id, false
        ) as is_restart_anchor
    from all_candidates
    inner join touched_accounts on all_candidates.account_id = touched_accounts.account_id
    left join restart_anchors on all_candidates.account_id = restart_anchors.account_id
    where
        restart_anchors.account_id is null
        or all_candidates.event_at > restart_anchors.event_at
        or (
            all_candidates.event_at = restart_anchors.event_at
            and (
                all_candidates.trigger_type_rank > restart_anchors.trigger_type_rank
                or (
                    all_candidates.trigger_type_rank = restart_anchors.trigger_type_rank
                    and {{ cx_bytewise('all_candidates.trigger_id') }} >= {{ cx_bytewise('restart_anchors.trigger_id') }}
                )
            )
        )
    union all
    select
        all_candidates.*,
        false as is_restart_anchor
    from all_candidates
    inner join candidate_changes
        on
            all_candidates.trigger_type = candidate_changes.current_trigger_type
            and all_candidates.trigger_id = candidate_changes.current_trigger_id
            and all_candidates.account_id is null
            and candidate_changes.current_account_id is null
),
{%- else %}

candidates as (
    select
        all_candidates.*,
        false as is_restart_anchor
    from all_candidates
),
{%- endif %}

eligible as (
    select
        candidates.*,
        row_number() over (
            partition by candidates.account_id
            order by candidates.event_at, candidates.trigger_type_rank, {{ cx_bytewise('candidates.trigger_id') }}
        ) as account_seq
    from candidates
    where candidates.eligibility_reason is null
),

timeline as (
    -- eligible candidates (row_kind 1) and their cooldown-end probes (row_kind 0)
    select
        account_id,
        event_at as sort_at,
        1 as row_kind,
        account_seq
    from eligible
    union all
    select
        account_id,
        {{ dbt.dateadd('day', cooldown_days, 'event_at') }} as sort_at,
        0 as row_kind,
        account_seq
    from eligible
),

probe_hits as (
    -- candidates before a probe, + 1 = the first candidate at or after it
    select
        account_id,
        row_kind,
        account_seq as origin_seq,
        1 + cast(sum(row_kind) over (
            partition by account_id
            order by sort_at, row_kind, account_seq
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as hit_seq
    from timeline
),

pointers as (
    -- read twice (chain start and recursive step), so DuckDB and PostgreSQL
    -- compute it once instead of once per step (no MATERIALIZED keyword:
    -- not every engine has it)
    select
        account_id,
        origin_seq as account_seq,
        case
            when hit_seq > origin_seq then hit_seq
            -- a cooldown of 0 days or less: every candidate is selected
            else origin_seq + 1
        end as next_seq
    from probe_hits
    where row_kind = 0
),

selected_chain as (
    {{ survey_selected_chain('pointers', 'selected_chain') }}
),

decided as (
    select
        eligible.*,
        selected_chain.account_seq is not null as is_selected
    from eligible
    left join selected_chain
        on
            eligible.account_id = selected_chain.account_id
            and eligible.account_seq = selected_chain.account_seq
),

anchored as (
    -- the account's last selected candidate before this one
    select
        decided.*,
        max(case when decided.is_selected then decided.account_seq end) over (
            partition by decided.account_id
            order by decided.account_seq
            rows between unbounded preceding and 1 preceding
        ) as anchor_seq
    from decided
),

selected_anchors as (
    select
        account_id,
        account_seq,
        trigger_type,
        trigger_id,
        event_at
    from decided
    where is_selected
),

eligible_rows as (
    select
        anchored.trigger_type,
        anchored.trigger_id,
        anchored.account_id,
        anchored.is_known_account,
        anchored.event_at,
        anchored.event_date,
        anchored.trigger_type_rank,
        anchored.send_window_start,
        anchored.send_window_end,
        anchored.eligibility_reason,
        anchored.is_selected,
        case when not anchored.is_selected then 'cooldown' end as suppression_reason,
        selected_anchors.trigger_type as cooldown_anchor_trigger_type,
        selected_anchors.trigger_id as cooldown_anchor_trigger_id,
        selected_anchors.event_at as cooldown_anchor_event_at
    from anchored
    left join selected_anchors
        on
            anchored.account_id = selected_anchors.account_id
            and anchored.anchor_seq = selected_anchors.account_seq
    where not anchored.is_restart_anchor
),

ineligible_rows as (
    -- suppressed by an earlier reason: they neither take part nor block
    select
        trigger_type,
        trigger_id,
        account_id,
        is_known_account,
        event_at,
        event_date,
        trigger_type_rank,
        send_window_start,
        send_window_end,
        eligibility_reason,
        false as is_selected,
        eligibility_reason as suppression_reason,
        cast(null as {{ dbt.type_string() }}) as cooldown_anchor_trigger_type,
        cast(null as {{ dbt.type_string() }}) as cooldown_anchor_trigger_id,
        cast(null as {{ dbt.type_timestamp() }}) as cooldown_anchor_event_at
    from candidates
    where eligibility_reason is not null
),

decided_rows as (
    select * from eligible_rows
    union all
    select * from ineligible_rows
)

select
    decided_rows.*,
    cast({{ cooldown_days | int }} as {{ dbt.type_int() }}) as cooldown_days,
    {{ cx_loaded_at() }} as loaded_at
from decided_rows
