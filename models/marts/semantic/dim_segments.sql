-- One row per combination of segment attributes found in the semantic
-- layer's facts (records and account snapshots), the 'unknown' combination
-- of records with no known account included: the `segment` entity that lets
-- every metric be sliced by the same dimensions.
with keys as (
    select
        segment_key,
        account_class,
        rate_code,
        service_area,
        age_band
    from {{ ref('fct_metric_records') }}
    union
    select
        {{ segment_key('snapshots') }} as segment_key,
        account_class,
        rate_code,
        service_area,
        age_band
    from {{ ref('int_account_snapshots') }} as snapshots
)

select distinct
    cast(segment_key as {{ dbt.type_string() }}) as segment_key,
    cast(account_class as {{ dbt.type_string() }}) as account_class,
    cast(rate_code as {{ dbt.type_string() }}) as rate_code,
    cast(service_area as {{ dbt.type_string() }}) as service_area,
    cast(age_band as {{ dbt.type_string() }}) as age_band
from keys
