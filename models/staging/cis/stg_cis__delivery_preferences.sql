{{ stage_cis_export('raw_delivery_preferences') }}
