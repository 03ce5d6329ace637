-- The fixed goalposts of the index (docs/analysts.md, "How the composite index is computed"):
-- per city and index indicator, its base year — the first year of the city's programme in
-- which its districts' scored values differ — and the lowest and highest district value that
-- year. Every year's scores are measured against these same two values, so a district that
-- improves scores higher, whatever the others do, and two years compare.
-- A table rebuilt each build (one row per city and indicator); the scores recompute every
-- year of a city whose base year was touched (macro city_years_touched).
{{ config(materialized='table') }}

with programme_start as (
    select city_code, min(first_year) as first_year
    from {{ ref('programmes') }}
    group by city_code
),

spreads as (
    select
        v.city_code, v.indicator_code, v.year,
        min(v.scored_value) as low,
        max(v.scored_value) as high,
        count(*) as districts
    from {{ ref('int_index_values') }} as v
    inner join programme_start as p on p.city_code = v.city_code and v.year >= p.first_year
    where v.scored_value is not null
    group by v.city_code, v.indicator_code, v.year
),

ordered as (
    select
        *,
        row_number() over (partition by city_code, indicator_code order by year) as nth
    from spreads
    where high > low
)

select
    city_code,
    indicator_code,
    year as base_year,
    low as base_min,
    high as base_max,
    districts as base_districts
from ordered
where nth = 1
