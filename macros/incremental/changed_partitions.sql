{#-
  Scoping a model's diff against its own stored rows to the partitions that
  changed (docs/incremental.md, "Partition checksums"), for the two models
  whose upstream carries no stamp (int_metric_records, int_survey_selection).

  A partition is a value of `partition_columns` (a day, a metric) and a bucket
  of `bucket_column` (an account: one of 1,024 by its hash). Both sides are
  summed per partition: the row count and the sum of a 64-bit hash of every
  compared column. A partition whose count or sum differs holds every row that
  is new, changed, moved or gone, on the side it is on: a row that moves
  (another day, another account) changes the partition it leaves and the one
  it enters. So the diff, restricted to those partitions on both sides, is the
  whole diff, and it compares the day's rows instead of the history's. The
  sums cost a scan of each side (the computed side is computed once for them
  and once more, filtered, for the rows) and a group-by; the row-by-row join
  that spilled at a million accounts runs on the changed partitions only.
  The partition columns must not be null (their not_null tests say so): a
  null never equals itself in the join that picks the partitions' rows (an
  `is not distinct from` there would keep PostgreSQL from a hash join). The
  bucket column may be null: its hash is a value like any other.
-#}

{#- The bucket of one value, 0 to 1023: the partition key's last part (a
    signed hash, as on PostgreSQL, is brought into range too). 1,024 buckets
    keep the partitions of a day small at a million accounts, so that a few
    hundred accounts whose attributes change bring back a few percent of the
    history, not all of it. -#}
{% macro cx_partition_bucket(column, prefix='') -%}
    ((({{ row_hash([prefix ~ column]) }} % 1024) + 1024) % 1024)
{%- endmacro %}


{#- Three CTEs: changed_partitions (one row per partition whose rows differ
    between `computed` and `stored`: its partition columns and
    partition_bucket), then `computed_as` and `stored_as`, the rows of each
    side in those partitions. The model diffs those two row by row. -#}
{% macro cx_changed_partition_rows(computed, stored, partition_columns, bucket_column, columns, computed_as, stored_as) %}
    {%- set keys = partition_columns + ['partition_bucket'] %}
changed_partitions as (
    -- the partitions whose row counts or hash sums differ
    select
        {%- for key in keys %}
        coalesce(computed_sums.{{ key }}, stored_sums.{{ key }}) as {{ key }}{{ "," if not loop.last }}
        {%- endfor %}
    from (
        {{- cx_partition_sums(computed, partition_columns, bucket_column, columns) }}
    ) as computed_sums
    full outer join (
        {{- cx_partition_sums(stored, partition_columns, bucket_column, columns) }}
    ) as stored_sums
        on
            {%- for key in keys %}
            computed_sums.{{ key }} = stored_sums.{{ key }}{{ " and" if not loop.last }}
            {%- endfor %}
    where
        computed_sums.row_count is distinct from stored_sums.row_count
        or computed_sums.row_checksum is distinct from stored_sums.row_checksum
),
{%- for rows, name in [(computed, computed_as), (stored, stored_as)] %}

{{ name }} as (
    -- the {{ "computed" if loop.first else "stored" }} rows of those partitions
    select {{ rows }}.*
    from {{ rows }}
    inner join changed_partitions
        on
            {%- for column in partition_columns %}
            {{ rows }}.{{ column }} = changed_partitions.{{ column }} and
            {%- endfor %}
            {{ cx_partition_bucket(bucket_column, rows ~ '.') }} = changed_partitions.partition_bucket
){{ "," if loop.first }}
{%- endfor %}
{%- endmacro %}


{% macro cx_partition_sums(rows, partition_columns, bucket_column, columns) %}
        select
            {%- for column in partition_columns %}
            {{ column }},
            {%- endfor %}
            partition_bucket,
            count(*) as row_count,
            sum(row_checksum) as row_checksum
        from (
            select
                {%- for column in partition_columns %}
                {{ column }},
                {%- endfor %}
                {{ cx_partition_bucket(bucket_column) }} as partition_bucket,
                cast({{ row_hash(columns) }} as decimal(38, 0)) as row_checksum
            from {{ rows }}
        ) as hashed_rows
        group by {{ (partition_columns + ['partition_bucket']) | join(', ') }}
{%- endmacro %}
