{#- The key of a combination of segment attributes (account class, rate code,
    service area, age band) of relation `rel`, 'unknown' where an attribute
    is missing: the join key of the semantic layer's `segment` entity. -#}
{% macro segment_key(rel) -%}
    cast({{ dbt.concat([
        "coalesce(" ~ rel ~ ".account_class, 'unknown')", "'|'",
        "coalesce(" ~ rel ~ ".rate_code, 'unknown')", "'|'",
        "coalesce(" ~ rel ~ ".service_area, 'unknown')", "'|'",
        "coalesce(" ~ rel ~ ".age_band, 'unknown')"
    ]) }} as {{ dbt.type_string() }})
{%- endmacro %}
