-- Every value a department owes: for each city and reporting year with anything received
-- (a loaded value or a department file), every indicator the city's programme requires every
-- year, for each unit that reports it (each reporting district valid in that year, or the city
-- itself for a city-level indicator). The dispatch list (mart_submission_*) and the
-- completeness check before publishing (expectations/required_values_present.json) both
-- read this one definition.
--
-- Incremental: what is owed depends only on the city-year and the reference (seeds, whose
-- change makes the build a full refresh), and a city-year never stops being a reporting year
-- (raw is append-only, a value never leaves fct_indicator_values). So a build adds the rows
-- of the city-years it has not seen and keeps the rest.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
) }}

with reporting_years as (
    select city_code, year from {{ ref('fct_indicator_values') }}
    union
    select city_code, reporting_year as year
    from {{ ref('stg_raw__submission_files') }}
    where file_status = 'loaded'
){% if is_incremental() %},

new_years as (
    select city_code, year from reporting_years
    except
    select city_code, year from {{ this }}
){% endif %}

select
    y.city_code,
    y.year,
    i.department_code,
    d.district_code,
    d.district_key,
    d.district_name_zh,
    i.indicator_code,
    i.indicator_name_zh,
    {{ citycheck.built_at() }} as built_at
from {{ 'new_years' if is_incremental() else 'reporting_years' }} as y
inner join {{ ref('city_indicators') }} as ci on ci.city_code = y.city_code
inner join {{ ref('dim_indicator') }} as i
    on i.indicator_code = ci.indicator_code and i.required_every_year
inner join {{ ref('dim_district') }} as d
    on d.city_code = y.city_code
    and {{ citycheck.valid_in_year('d', 'y.year') }}
    and (
        (i.reporting_level = 'district' and d.unit_level <> 'city' and d.reports_indicators)
        or (i.reporting_level = 'city' and d.unit_level = 'city')
    )
