{{ stage_cis_export('raw_billing_runs') }}
