{#- The day a person born on `birth_date` completes `years` years. A 29 February
    birthday falls on 1 March in common years (the anniversary has not been
    reached on 28 February). -#}
{% macro anniversary(birth_date, years) -%}
    case
        when extract(month from {{ birth_date }}) = 2 and extract(day from {{ birth_date }}) = 29
            and extract(day from {{ dbt.dateadd('year', years, birth_date) }}) = 28
            then cast({{ dbt.dateadd('day', 1, dbt.dateadd('year', years, birth_date)) }} as date)
        else cast({{ dbt.dateadd('year', years, birth_date) }} as date)
    end
{%- endmacro %}

{#- Age band on `ref_date` from the anniversaries carried by int_accounts.
    Non-residential accounts are 'n/a'; unknown accounts or birth dates 'unknown'. -#}
{% macro age_band(account_class, has_birth_date, turns_35_on, turns_50_on, turns_65_on, ref_date) -%}
    case
        when {{ account_class }} is null then 'unknown'
        when {{ account_class }} <> 'residential' then 'n/a'
        when not {{ has_birth_date }} then 'unknown'
        when {{ ref_date }} >= {{ turns_65_on }} then '65+'
        when {{ ref_date }} >= {{ turns_50_on }} then '50-64'
        when {{ ref_date }} >= {{ turns_35_on }} then '35-49'
        else '<35'
    end
{%- endmacro %}

{#- The segment attributes of a record's account (`accounts` = int_accounts,
    left-joined: null when the account is unknown), the age band on the
    record's `ref_date`. -#}
{% macro account_segment_attributes(accounts, ref_date) -%}
    {{ accounts }}.account_class,
    {{ accounts }}.rate_code,
    {{ accounts }}.service_area,
    {{ age_band(
        accounts ~ '.account_class', accounts ~ '.has_birth_date', accounts ~ '.turns_35_on',
        accounts ~ '.turns_50_on', accounts ~ '.turns_65_on', ref_date
    ) }} as age_band
{%- endmacro %}
