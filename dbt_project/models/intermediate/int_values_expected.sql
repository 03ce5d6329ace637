-- Every value a department owes: from the day a reporting round opens (int_rounds: by the
-- programme's calendar or early by the office), whether or not anything has arrived, every
-- indicator the city's programme framework holds that year (int_framework) and requires every
-- year, for each unit that reports it (each
-- reporting district valid in that year, or the city itself for a city-level indicator). The
-- round's values (mart_round_values), the dispatch list (mart_submission_*) and the
-- completeness report (expectations/required_values_present.json) all read this one
-- definition.
--
-- Incremental: what is owed depends only on the round and the reference (seeds, whose change
-- makes the build a full refresh), and a round, once opened, stays (closing it ends the
-- collection, not the debt). So a build adds the rows of the rounds it has not seen and
-- keeps the rest.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
) }}

with reporting_years as (
    select city_code, year from {{ ref('int_rounds') }}
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
inner join (
    select distinct f.city_code, f.indicator_code, yy.year
    from {{ ref('int_framework') }} as f
    inner join reporting_years as yy
        on yy.city_code = f.city_code and {{ citycheck.in_framework('f', 'yy.year') }}
) as ci on ci.city_code = y.city_code and ci.year = y.year
inner join {{ ref('dim_indicator') }} as i
    on i.indicator_code = ci.indicator_code and i.required_every_year
inner join {{ ref('dim_district') }} as d
    on d.city_code = y.city_code
    and {{ citycheck.valid_in_year('d', 'y.year') }}
    and (
        (i.reporting_level = 'district' and d.unit_level <> 'city' and d.reports_indicators)
        or (i.reporting_level = 'city' and d.unit_level = 'city')
    )
