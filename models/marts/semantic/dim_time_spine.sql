-- MetricFlow's daily time spine: the days of the reporting window.
select cast(calendar_date as date) as date_day
from {{ ref('int_calendar_days') }}
