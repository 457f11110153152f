{{ stage_cis_export('raw_payments') }}
