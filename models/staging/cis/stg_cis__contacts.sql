{{ stage_cis_export('raw_contacts') }}
