{#- Custom schemas are used as-is (staging, intermediate, marts, reference)
    so that BI tools read stable names such as marts.fct_cx_metrics. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
