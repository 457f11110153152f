{#- No two rows share the same values of `combination` (a composite key).
    Two steps, so that a table of hundreds of millions of rows is checked
    without grouping its full keys: the key hashes held by more than one row,
    then the exact keys among the rows with such a hash (a hash collision
    reaches the exact step and passes it). -#}
{% test unique_combination_of_columns(model, combination) %}
{{ cx_duplicate_keys(model, combination) }}
{% endtest %}
