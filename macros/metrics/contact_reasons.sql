{#- The contact reason codes of the contract: the domain of
    raw_contacts.reason_code in _cis__sources.yml. Unit tests have no source
    graph and get none unless they override this macro with a list. -#}
{% macro contact_reason_codes() -%}
    {%- set sources = graph.get('sources', {}) if execute else {} -%}
    {%- set node = sources.get('source.cx_warehouse.cis.raw_contacts') -%}
    {%- if node is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(node.columns['reason_code'].meta['domain']) }}
{%- endmacro %}

{#- A list of strings as a relation with one column `column`, one row per
    value (no row for an empty list). -#}
{% macro string_values_relation(values, column) -%}
    {%- if values | length == 0 %}
    select cast(null as {{ dbt.type_string() }}) as {{ column }} where 1 = 0
    {%- else -%}
    {%- for value in values %}
    select cast('{{ value }}' as {{ dbt.type_string() }}) as {{ column }}
    {%- if not loop.last %}
    union all
    {%- endif -%}
    {%- endfor -%}
    {%- endif %}
{%- endmacro %}
