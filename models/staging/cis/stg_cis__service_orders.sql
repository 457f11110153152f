{{ stage_cis_export('raw_service_orders', extra_rules=[
    {'reason': 'completed_at set without status completed', 'when': "raw__completed_at is not null and status <> 'completed'"},
    {'reason': 'status completed without completed_at', 'when': "raw__completed_at is null and status = 'completed'"},
]) }}
