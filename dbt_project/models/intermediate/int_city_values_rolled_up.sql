-- City values derived from the districts by each indicator's aggregation rule:
--   sum                       -> sum of the district values
--   population_weighted_mean  -> sum(value x resident population) / sum(resident population)
--   none                      -> not derived (the department reports the city figure itself)
-- A roll-up is only given when every reporting district of the city has a value that year
-- (and, for weighted means, a population): a partial sum would understate the city.
--
-- Incremental by city x year (macro city_years_touched): a roll-up depends on the values of
-- its city's districts that year (the population among them), so a city-year none of whose
-- values was rewritten keeps its rows.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.city_years_touched('rollups_touched') }}",
) }}

with reporting_districts as (
    select d.city_code, d.district_code, y.year
    from {{ ref('dim_district') }} as d
    {% if is_incremental() %}
    inner join rollups_touched as y
        on y.city_code = d.city_code and {{ citycheck.valid_in_year('d', 'y.year') }}
    {% else %}
    inner join (select distinct year from {{ ref('fct_indicator_values') }}) as y
        on {{ citycheck.valid_in_year('d', 'y.year') }}
    {% endif %}
    where d.unit_level <> 'city' and d.reports_indicators
),

rolled_indicators as (
    -- the indicators in the city's programme (in the years its framework holds them: below)
    select distinct f.city_code, i.indicator_code, i.aggregation
    from {{ ref('int_framework') }} as f
    inner join {{ ref('indicators') }} as i on i.indicator_code = f.indicator_code
    where i.reporting_level = 'district' and i.aggregation <> 'none'
),

population as (
    select district_code, year, value as population
    from {{ ref('fct_indicator_values') }}
    where indicator_code = 'resident_population_10k'
),

joined as (
    select
        rd.city_code,
        ri.indicator_code,
        ri.aggregation,
        rd.year,
        rd.district_code,
        v.value,
        p.population
    from reporting_districts as rd
    inner join rolled_indicators as ri
        on ri.city_code = rd.city_code
        and exists (
            select 1 from {{ ref('int_framework') }} as f
            where f.city_code = ri.city_code and f.indicator_code = ri.indicator_code
                and {{ citycheck.in_framework('f', 'rd.year') }}
        )
    left join {{ ref('fct_indicator_values') }} as v
        on v.district_code = rd.district_code
        and v.indicator_code = ri.indicator_code
        and v.year = rd.year
    left join population as p on p.district_code = rd.district_code and p.year = rd.year
),

summed as (
    select
        city_code,
        indicator_code,
        aggregation,
        year,
        count(*) as districts_expected,
        count(value) as districts_with_value,
        count(case when value is not null and population is not null then 1 end)
            as districts_with_weight,
        sum(value) as sum_value,
        sum(value * population)
            / nullif(sum(case when value is not null then population end), 0) as weighted_mean
    from joined
    group by city_code, indicator_code, aggregation, year
    having count(value) > 0
)

select
    city_code,
    indicator_code,
    aggregation,
    year,
    districts_expected,
    districts_with_value,
    case
        when districts_with_value < districts_expected then null
        when aggregation = 'sum' then {{ citycheck.round_to("sum_value", 6) }}
        when aggregation = 'population_weighted_mean' and districts_with_weight = districts_expected
            then {{ citycheck.round_to("weighted_mean", 4) }}
    end as rollup_value,
    case
        when districts_with_value < districts_expected then 'incomplete'
        when aggregation = 'population_weighted_mean' and districts_with_weight < districts_expected
            then 'missing_population'
        else 'complete'
    end as rollup_status,
    {{ citycheck.built_at() }} as built_at
from summed
