{{ stage_cis_export('raw_portal_users') }}
