{#- Pairs of rows of `relation` that share `key` and whose effective-dated
    intervals [start_col, end_col) overlap (an empty end is open). Each pair
    appears once (first_row.pair_order < second_row.pair_order). Columns:
    overlap_kind, overlap_key, row_id_a/b, entity_a/b,
    start_a/b, end_a/b. -#}
{% macro interval_overlap_pairs(kind, relation, key, row_id, entity, start_col, end_col, pair_order) %}
    select
        '{{ kind }}' as overlap_kind,
        first_row.{{ key }} as overlap_key,
        first_row.{{ row_id }} as row_id_a,
        second_row.{{ row_id }} as row_id_b,
        first_row.{{ entity }} as entity_a,
        second_row.{{ entity }} as entity_b,
        first_row.{{ start_col }} as start_a,
        first_row.{{ end_col }} as end_a,
        second_row.{{ start_col }} as start_b,
        second_row.{{ end_col }} as end_b
    from {{ relation }} as first_row
    inner join {{ relation }} as second_row
        on
            first_row.{{ key }} = second_row.{{ key }}
            and first_row.{{ pair_order }} < second_row.{{ pair_order }}
            and (second_row.{{ end_col }} is null or first_row.{{ start_col }} < second_row.{{ end_col }})
            and (first_row.{{ end_col }} is null or first_row.{{ end_col }} > second_row.{{ start_col }})
{% endmacro %}
