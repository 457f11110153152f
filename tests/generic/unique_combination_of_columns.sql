{#- No two rows share the same values of `combination` (a composite key). -#}
{% test unique_combination_of_columns(model, combination) %}
select {% for c in combination %}{{ c }}, {% endfor %}count(*) as rows_sharing_key
from {{ model }}
group by {% for c in combination %}{{ c }}{{ ", " if not loop.last }}{% endfor %}
having count(*) > 1
{% endtest %}
