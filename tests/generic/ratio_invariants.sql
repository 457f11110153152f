{#- Ratio metric rows: 0 <= numerator <= denominator (unless the metric is not a
    share, e.g. seconds per call), denominator > 0, value = numerator / denominator. -#}
{% test ratio_invariants(model, numerator, denominator, value, non_share_filter='1 = 0', tolerance=1e-9) %}
select *
from {{ model }}
where {{ denominator }} is null
    or {{ denominator }} <= 0
    or {{ numerator }} < 0
    or ({{ numerator }} > {{ denominator }} and not ({{ non_share_filter }}))
    or {{ value }} is null
    or abs({{ value }} - 1.0 * {{ numerator }} / {{ denominator }}) > {{ tolerance }}
{% endtest %}
