-- Each district's value on each index indicator, normalised, two ways (docs/analysts.md):
--
-- score — against fixed goalposts (int_index_goalposts): the lowest and highest district
--   value of the indicator's base year score 0 and 100, every year:
--     higher_better: 100 x (v - base_min) / (base_max - base_min)
--     lower_better:  100 x (base_max - v) / (base_max - base_min)
--   bounded to [0, var('index_score_cap')] (so one indicator cannot outweigh the rest); v is
--   the scored value (per 10,000 residents where index_weights says so, int_index_values).
--   Comparable across years and districts: a district that improves scores higher.
-- score_relative — the method of earlier publications, kept under its own name:
--   target-based where the district has its own level target for that indicator and year:
--     higher_better: 100 x min(value / target, 1);  lower_better: 100 x min(target / value, 1)
--   otherwise min-max across the city's districts with a value that year:
--     higher_better: 100 x (value - min) / (max - min);  lower_better: 100 x (max - value) / (max - min)
--     (all districts equal: each scores 100 — none is behind the others)
--   Relative within one year: it ranks districts, it cannot compare years.
-- target_band indicators (a value should stay between band_low and band_high), both scores:
--   100 inside the band; outside, 100 x (1 - distance from the band / the band's width),
--   not below 0 (macro band_score): fixed by the band, so comparable across years too.
-- A missing value gets no score (never zero); coverage in mart_dimension_index says so.
--
-- Incremental by city x year: a build recomputes the city-years whose values were rewritten,
-- and every year of a city whose base year was (macro city_years_touched).
-- depends_on: {{ ref('fct_indicator_values') }} (the pre-hook's city-years)
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.city_years_touched('scores_touched', base_years=true) }}",
) }}

with district_values as (
    select v.*
    from {{ ref('int_index_values') }} as v
    {% if is_incremental() %}
    inner join scores_touched as t on t.city_code = v.city_code and t.year = v.year
    {% endif %}
),

ranges as (
    select
        *,
        min(value) over (partition by city_code, indicator_code, year) as city_min,
        max(value) over (partition by city_code, indicator_code, year) as city_max
    from district_values
),

with_references as (
    select r.*, t.target_value, g.base_year, g.base_min, g.base_max
    from ranges as r
    left join {{ ref('fct_indicator_targets') }} as t
        on t.district_code = r.district_code and t.indicator_code = r.indicator_code
        and t.target_year = r.year and t.basis = 'level' and t.target_value > 0
    left join {{ ref('int_index_goalposts') }} as g
        on g.city_code = r.city_code and g.indicator_code = r.indicator_code
)

select
    city_code,
    district_code,
    district_key,
    indicator_code,
    chc_dimension_code,
    year,
    value,
    direction,
    band_low,
    band_high,
    weight,
    divided_by,
    scored_value,
    base_year,
    base_min,
    base_max,
    {{ citycheck.round_to("least(greatest(case
        when direction = 'target_band' then " ~ citycheck.band_score('scored_value') ~ "
        when scored_value is null or base_max is null then null
        when direction = 'higher_better'
            then 100 * (scored_value - base_min) / (base_max - base_min)
        else 100 * (base_max - scored_value) / (base_max - base_min)
    end, 0), " ~ var('index_score_cap') ~ ")", 4) }} as score,
    target_value,
    city_min,
    city_max,
    case when target_value is not null then 'target' else 'min_max' end as normalisation,
    {{ citycheck.round_to("case
        when direction = 'target_band' then " ~ citycheck.band_score('value') ~ "
        when target_value is not null and direction = 'higher_better'
            then 100 * least(value / target_value, 1)
        when target_value is not null and direction = 'lower_better' and value > 0
            then 100 * least(target_value / value, 1)
        when target_value is not null then 100
        when city_max = city_min then 100
        when direction = 'higher_better' then 100 * (value - city_min) / (city_max - city_min)
        else 100 * (city_max - value) / (city_max - city_min)
    end", 4) }} as score_relative,
    {{ citycheck.built_at() }} as built_at
from with_references
