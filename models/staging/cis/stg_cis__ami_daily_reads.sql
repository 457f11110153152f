{{ stage_cis_export('raw_ami_daily_reads') }}
