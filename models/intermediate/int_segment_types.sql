-- The segment types every metric is published by (contact_reason applies to
-- first_contact_resolution and average_handle_time only).
select
    'all' as segment_type,
    1 as segment_order
union all
select
    'account_class' as segment_type,
    2 as segment_order
union all
select
    'rate_code' as segment_type,
    3 as segment_order
union all
select
    'service_area' as segment_type,
    4 as segment_order
union all
select
    'age_band' as segment_type,
    5 as segment_order
union all
select
    'contact_reason' as segment_type,
    6 as segment_order
