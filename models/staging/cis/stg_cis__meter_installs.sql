-- raw_meter_installs, staged: one row per meter installation on a premise
-- (meters are exchanged, and a removed meter may be reinstalled elsewhere:
-- the key is meter_id and installed_date).
-- The contract (columns, types, rules, key) is raw_meter_installs in _cis__sources.yml;
-- the steps are macros of macros/staging/stage_cis_export.sql.
{%- set export = cis_export('raw_meter_installs') %}
{{ cis_read_deliveries(export) }},      {#- raw_rows: the rows of the deliveries to load, as text #}
{{ cis_collapse_duplicates(export) }},  {#- shared_keys, shared_collapsed: exact copies counted once #}
{{ cis_type_and_flag(export) }},        {#- typed (single_rows, shared_rows), every rule checked (single_loaded, shared_loaded) #}
{{ cis_supersede(export) }}             {#- the latest delivery of each kept key is in force #}
