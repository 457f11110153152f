{#- Two phones are the same when their last 10 digits are equal. Phones with
    fewer than 10 digits match nothing (NULL key). -#}
{% macro phone_key(expr) -%}
    case when length({{ digits_only(expr) }}) >= 10 then right({{ digits_only(expr) }}, 10) end
{%- endmacro %}
