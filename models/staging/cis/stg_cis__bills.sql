{{ stage_cis_export('raw_bills') }}
