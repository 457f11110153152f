-- One row per kept bill compared with the AMI reads attributed to its account
-- over its service period (inclusive days). Only reads with status
-- 'attributed' count, so a day whose premise was vacant, ambiguous or whose
-- read is missing leaves the bill not fully covered. Reads join bills on
-- account_id and calendar month plus a range predicate: each bill is listed
-- once per month its period touches (two or three), so a read meets only the
-- bills of its own month instead of every bill of its account (no account x
-- day explosion, and no fan-out that grows with the span of the extract).
--   variance_kwh   = billed_kwh - ami_kwh (positive: billed more than measured)
--   variance_share = variance_kwh / billed_kwh
-- both only for fully covered bills. A bill matches when it is fully covered
-- and |variance_kwh| <= var ami_usage_tolerance (default 0.02) x billed_kwh.
{%- set tolerance = var('ami_usage_tolerance', 0.02) %}
--
-- Incremental (delete+insert by bill_id; a table on Spark): a scheduled run
-- recomputes the bills whose service period ends on or after the first read
-- day the attribution rewrote since they were stored (macro
-- ami_recompute_from), and the bills that are new or whose bill row changed;
-- every bill when var ami_usage_tolerance differs from the stored rows'.
-- It reads only the attributed reads from the earliest service start of those
-- bills to their latest service end, one calendar month at a time (below); a
-- post-hook removes the bills no longer kept.
{{ config(**cx_incremental_config(
    'delete+insert', unique_key='bill_id',
    post_hook="{{ cx_retire_dropped(ref('int_bills'), ['bill_id']) }}")) }}
{#- rows stored under another tolerance: every bill is compared again -#}
{%- set plan = ami_recompute_from(stamps={'usage_tolerance': 'cast(' ~ tolerance ~ ' as ' ~ type_double() ~ ')'}) %}
{#- int_bills is a table: when it was not built again since this model's last
    run with the same settings (cx_rebuilt_since_last_run), no bill is new or
    changed, and the bills are not compared with the stored ones -#}
{%- set bills_sql = ami_bills_to_compute(plan, cx_rebuilt_since_last_run(ref('int_bills'), plan.watermark) if plan else true) %}
{#- On a scheduled run, the calendar months of the bills to compute (their
    first service start to their last service end): the reads are read one
    such month at a time, each by a literal date range the engine prunes by
    (zone maps), instead of once per month of the year over every month. -#}
{%- set reads_from = none %}
{%- set read_months = [] %}
{%- if plan and execute %}
    {%- set span = run_query('select ' ~ dbt.cast('min(service_period_start)', dbt.type_string()) ~ ', '
                             ~ dbt.cast('max(service_period_end)', dbt.type_string())
                             ~ ' from (' ~ bills_sql ~ ') as to_compute').rows[0] %}
    {%- set reads_from = (span[0] or '9999-12-31')[:10] %}
    {#- past 36 months (a far-off service end), the twelve month-of-year joins
        instead -#}
    {%- set months = ((span[1][:4] | int) - (span[0][:4] | int)) * 12 + (span[1][5:7] | int) - (span[0][5:7] | int) + 1 if span[0] and span[1] else 0 %}
    {%- if 0 < months <= 36 %}
        {%- set month = namespace(start=modules.datetime.date(span[0][:4] | int, span[0][5:7] | int, 1)) %}
        {%- for _ in range(months) %}
            {%- set next_start = modules.datetime.date(month.start.year + (month.start.month // 12), month.start.month % 12 + 1, 1) %}
            {%- do read_months.append((month.start.isoformat(), next_start.isoformat())) %}
            {%- set month.start = next_start %}
        {%- endfor %}
    {%- endif %}
{%- endif %}
with bills as (
    -- every kept bill, or on a scheduled run those to recompute (see above)
    {{ bills_sql }}
),

-- account_id is set only on attributed reads, so the joins on it below see
-- attributed reads only; no filter here, so that DuckDB estimates this side
-- at its true size (every read) and builds its hash tables on the bills'
-- side instead (a guessed 20% of the reads looked smaller than the bills)
reads as {{ cte_not_materialized() }} (
    select
        account_id,
        premise_id,
        read_date,
        cast({{ dbt.date_trunc('month', 'read_date') }} as date) as read_month,
        kwh
    from {{ ref('int_ami_reads_attributed') }}
    {%- if reads_from %}
    where read_date >= cast('{{ reads_from }}' as date)
    {%- endif %}
),

-- An account has two reads of one day only when two meters covered its
-- premise that day, which needs two install rows at the premise. Only those
-- premises' reads are grouped by account and day (a count(distinct) per bill,
-- or a group by over every read, does not fit at 1 M accounts): the reads
-- beyond the first of a day, subtracted from a bill's reads, give its days.
multi_meter_premises as (
    select premise_id
    from {{ ref('stg_cis__meter_installs') }}
    where is_in_force
    group by premise_id
    having count(*) > 1
),

extra_reads as (
    select
        reads.account_id,
        reads.read_date,
        reads.read_month,
        count(*) - 1 as extra_reads
    from reads
    inner join multi_meter_premises on reads.premise_id = multi_meter_premises.premise_id
    where reads.account_id is not null
    group by reads.account_id, reads.read_date, reads.read_month
    having count(*) > 1
),

digits as (
    {%- for d in range(10) %}
    select {{ d }} as d
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

longest_period as (
    select max({{ dbt.datediff('service_period_start', 'service_period_end', 'month') }}) as months
    from bills
    where service_period_end >= service_period_start
),

-- 0 .. the longest service period in months (a handful of rows)
month_offsets as (
    select ones.d + 10 * tens.d + 100 * hundreds.d as month_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join longest_period
    where ones.d + 10 * tens.d + 100 * hundreds.d <= longest_period.months
),

-- each bill once per calendar month its service period touches
bill_months as {{ cte_not_materialized() }} (
    select
        bills.bill_id,
        bills.account_id,
        bills.service_period_start,
        bills.service_period_end,
        cast({{ dbt.dateadd('month', 'month_offsets.month_offset', dbt.date_trunc('month', 'bills.service_period_start')) }} as date) as read_month
    from bills
    inner join month_offsets
        on month_offsets.month_offset <= {{ dbt.datediff('bills.service_period_start', 'bills.service_period_end', 'month') }}
    where bills.service_period_end >= bills.service_period_start
),

-- Reads meet bills one calendar month of the year at a time (twelve joins,
-- each over the reads of that month in every year): each join's hash table
-- holds a twelfth of the bill-months instead of all of them, so at 1 M
-- accounts it fits in memory where the single join spilled past the disk
-- (DECISIONLOG 76). The months are fixed, so no query of the data is needed
-- to compile the model. A scheduled run joins one calendar month at a time,
-- the months of the bills it computes, each reading only that month's reads.
bill_month_reads as (
    {%- set parts = read_months if read_months else range(1, 13) %}
    {%- for part in parts %}
    {%- if read_months %}
    {%- set bills_of_part = "bill_months.read_month = cast('" ~ part[0] ~ "' as date)" %}
    {%- set reads_of_part = "reads.read_date >= cast('" ~ part[0] ~ "' as date) and reads.read_date < cast('" ~ part[1] ~ "' as date)" %}
    {%- else %}
    {%- set bills_of_part = "extract(month from bill_months.read_month) = " ~ part %}
    {%- set reads_of_part = "extract(month from reads.read_date) = " ~ part %}
    {%- endif %}
    select
        bill_months.bill_id,
        count(*) as reads,
        sum(reads.kwh) as ami_kwh
    from bill_months
    inner join reads
        on
            bill_months.account_id = reads.account_id
            and bill_months.read_month = reads.read_month
            and bill_months.service_period_start <= reads.read_date
            and bill_months.service_period_end >= reads.read_date
    where
        {{ bills_of_part }}
        and {{ reads_of_part }}
    group by bill_months.bill_id
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

bill_reads as (
    select
        bill_id,
        sum(reads) as reads,
        sum(ami_kwh) as ami_kwh
    from bill_month_reads
    group by bill_id
),

bill_extra_reads as (
    select
        bill_months.bill_id,
        sum(extra_reads.extra_reads) as extra_reads
    from bill_months
    inner join extra_reads
        on
            bill_months.account_id = extra_reads.account_id
            and bill_months.read_month = extra_reads.read_month
            and bill_months.service_period_start <= extra_reads.read_date
            and bill_months.service_period_end >= extra_reads.read_date
    group by bill_months.bill_id
),

compared as (
    select
        bills.*,
        case
            when bills.service_period_end >= bills.service_period_start
                then {{ dbt.datediff('bills.service_period_start', 'bills.service_period_end', 'day') }} + 1
            else 0
        end as period_days,
        coalesce(bill_reads.reads, 0) as reads,
        coalesce(bill_reads.reads, 0) - coalesce(bill_extra_reads.extra_reads, 0) as read_days,
        coalesce(bill_reads.ami_kwh, 0) as ami_kwh
    from bills
    left join bill_reads on bills.bill_id = bill_reads.bill_id
    left join bill_extra_reads on bills.bill_id = bill_extra_reads.bill_id
),

flagged as (
    select
        *,
        period_days > 0 and read_days = period_days as is_fully_covered
    from compared
)

select
    bill_id,
    account_id,
    billing_run_id,
    bill_date,
    cast({{ dbt.date_trunc('month', 'bill_date') }} as date) as bill_month,
    service_period_start,
    service_period_end,
    is_estimated,
    is_rebill,
    is_corrected,
    period_days,
    read_days,
    reads,
    billed_kwh,
    ami_kwh,
    is_fully_covered,
    case when is_fully_covered then billed_kwh - ami_kwh end as variance_kwh,
    case
        when is_fully_covered and billed_kwh <> 0
            then cast(1.0 * (billed_kwh - ami_kwh) / billed_kwh as {{ type_double() }})
    end as variance_share,
    coalesce(is_fully_covered and abs(billed_kwh - ami_kwh) <= {{ tolerance }} * billed_kwh, false) as is_matched,
    cast({{ tolerance }} as {{ type_double() }}) as usage_tolerance,
    {{ cx_loaded_at() }} as loaded_at
from flagged
