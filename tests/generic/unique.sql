{#- dbt's `unique`, in two steps (see unique_combination_of_columns): the
    hashes of non-null values held more than once, then the exact values
    among those rows. Same result as the built-in test, a fraction of its
    memory and spill on the smart-meter tables. -#}
{% test unique(model, column_name) %}
{{ cx_duplicate_keys(model, [column_name], skip_nulls=true) }}
{% endtest %}
