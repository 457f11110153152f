-- A kept survey with a score but no responded_at (or the reverse) has no CSAT
-- reference date and is left out of CSAT; warn so the extract can be fixed.
{{ config(severity='warn') }}
select
    survey_id,
    responded_at,
    score
from {{ ref('stg_cis__surveys') }}
where
    is_in_force
    and ((score is null) <> (responded_at is null))
