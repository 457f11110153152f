{#- The 14 CIS export names (source tables of source `cis`), in contract order. -#}
{% macro cis_export_names() -%}
    {{ return([
        'raw_customers', 'raw_accounts', 'raw_meter_installs', 'raw_ami_daily_reads',
        'raw_billing_runs', 'raw_bills', 'raw_billing_exceptions', 'raw_payments',
        'raw_service_orders', 'raw_contacts', 'raw_portal_users', 'raw_portal_events',
        'raw_delivery_preferences', 'raw_surveys'
    ]) }}
{%- endmacro %}
