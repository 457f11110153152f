-- The segment types every metric is published by (contact_reason applies to
-- first_contact_resolution and average_handle_time only).
select 'all' as segment_type, 1 as segment_order
union all select 'account_class', 2
union all select 'rate_code', 3
union all select 'service_area', 4
union all select 'age_band', 5
union all select 'contact_reason', 6
