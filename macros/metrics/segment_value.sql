{#- The segment value of a record for a segment type, from the record's
    account attributes (`rel`.account_class, ...). A missing account gives
    'unknown' for every account-based segment type. -#}
{% macro segment_value(segment_type, rel, has_contact_reason=true) -%}
    case {{ segment_type }}
        when 'all' then 'all'
        when 'account_class' then coalesce({{ rel }}.account_class, 'unknown')
        when 'rate_code' then coalesce({{ rel }}.rate_code, 'unknown')
        when 'service_area' then coalesce({{ rel }}.service_area, 'unknown')
        when 'age_band' then {{ rel }}.age_band
        {%- if has_contact_reason %}
        when 'contact_reason' then {{ rel }}.contact_reason
        {%- endif %}
    end
{%- endmacro %}
