-- Each district's value on each index indicator, normalised to 0-100 (docs/analysts.md):
--   target-based where the district has its own level target for that indicator and year:
--     higher_better: 100 x min(value / target, 1);  lower_better: 100 x min(target / value, 1)
--   otherwise min-max across the city's districts with a value that year:
--     higher_better: 100 x (value - min) / (max - min);  lower_better: 100 x (max - value) / (max - min)
--     (all districts equal: each scores 100 — none is behind the others)
-- A missing value gets no score (never zero); coverage in mart_dimension_index says so.
--
-- Incremental by city x year (min and max are taken within a city, indicator and year): a
-- build recomputes the city-years whose values were rewritten (macro city_years_touched).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.city_years_touched('scores_touched') }}",
) }}

with district_values as (
    select
        f.city_code, f.district_code, f.district_key, f.indicator_code, f.year, f.value,
        i.direction, i.chc_dimension_code, w.weight
    from {{ ref('fct_indicator_values') }} as f
    inner join {{ ref('dim_district') }} as d on d.district_key = f.district_key
    inner join {{ ref('dim_indicator') }} as i on i.indicator_code = f.indicator_code
    inner join {{ ref('index_weights') }} as w on w.indicator_code = f.indicator_code
    {% if is_incremental() %}
    inner join scores_touched as t on t.city_code = f.city_code and t.year = f.year
    {% endif %}
    where d.unit_level <> 'city' and f.value is not null and w.weight > 0
        and i.direction in ('higher_better', 'lower_better')
),

ranges as (
    select
        *,
        min(value) over (partition by city_code, indicator_code, year) as city_min,
        max(value) over (partition by city_code, indicator_code, year) as city_max
    from district_values
),

with_targets as (
    select r.*, t.target_value
    from ranges as r
    left join {{ ref('fct_indicator_targets') }} as t
        on t.district_code = r.district_code and t.indicator_code = r.indicator_code
        and t.target_year = r.year and t.basis = 'level' and t.target_value > 0
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
    weight,
    target_value,
    city_min,
    city_max,
    case when target_value is not null then 'target' else 'min_max' end as normalisation,
    {{ citycheck.round_to("case
        when target_value is not null and direction = 'higher_better'
            then 100 * least(value / target_value, 1)
        when target_value is not null and direction = 'lower_better' and value > 0
            then 100 * least(target_value / value, 1)
        when target_value is not null then 100
        when city_max = city_min then 100
        when direction = 'higher_better' then 100 * (value - city_min) / (city_max - city_min)
        else 100 * (city_max - value) / (city_max - city_min)
    end", 4) }} as score,
    {{ citycheck.built_at() }} as built_at
from with_targets
