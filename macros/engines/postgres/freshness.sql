{#- Source freshness on PostgreSQL: the sources' loaded_at_field is written
    `try_cast(<column> as timestamp)` (DuckDB and Spark SQL; the columns are
    text). PostgreSQL has no try_cast, so that form is rewritten into the
    contract parse (a date or a timestamp; anything else is null), which never
    raises on a bad value. Any other loaded_at_field is used as written. -#}
{% macro postgres__collect_freshness(source, loaded_at_field, filter) %}
    {%- set m = modules.re.match('^\\s*try_cast\\(\\s*(\\w+)\\s+as\\s+timestamp\\s*\\)\\s*$', loaded_at_field, modules.re.I) -%}
    {%- if m -%}
        {%- set col = m.group(1) -%}
        {%- set loaded_at_field -%}
            case
                when {{ col }} ~ '^({{ cis_type_pattern('date') }})$' then cast({{ cis_parse('date', col) }} as {{ dbt.type_timestamp() }})
                else {{ cis_parse('timestamp', col) }}
            end
        {%- endset -%}
    {%- endif -%}
    {{ return(dbt.default__collect_freshness(source, loaded_at_field, filter)) }}
{% endmacro %}
