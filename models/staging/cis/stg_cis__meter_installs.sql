{{ stage_cis_export('raw_meter_installs') }}
