-- A composite score per district, year and city-health-check dimension, and overall
-- (dimension_code = 'overall'), on each of the two scores of int_indicator_scores: `score`
-- (against the base year's fixed goalposts: comparable across years) and `score_relative`
-- (min-max within the year, or the district's target: the method of earlier publications).
-- Method in docs/analysts.md:
--   dimension score = weighted mean of the indicator scores present;
--   coverage = weight of the indicators scored / weight of the indicators the city's programme
--              framework puts in that dimension that year (int_framework); below
--              min_index_coverage the score is null, never a
--              guess and never a zero;
--   overall = plain mean of the dimension scores present; coverage = dimensions scored /
--             dimensions with indicators; null below min_index_coverage.
-- Incremental by city x year, as int_indicator_scores (macro city_years_touched).
-- depends_on: {{ ref('fct_indicator_values') }} (the pre-hook's city-years)
-- depends_on: {{ ref('int_index_goalposts') }} (the pre-hook's base years)
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.city_years_touched('index_touched', base_years=true) }}",
) }}

with expected as (
    -- the index indicators of each city's programme, with the dimension its framework puts
    -- each in and the years it does so (int_index_framework): the coverage denominator
    select city_code, classification_code as chc_dimension_code, indicator_code, first_year,
        last_year, weight
    from {{ ref('int_index_framework') }}
    where scheme = 'city_health_check'
),

units as (
    -- every reporting district in every year the city has scores: a district with no value
    -- at all still gets a row, with coverage 0
    select distinct s.city_code, d.district_code, d.district_key, s.year
    from {{ ref('int_indicator_scores') }} as s
    inner join {{ ref('dim_district') }} as d
        on d.city_code = s.city_code and d.unit_level <> 'city' and d.reports_indicators
        and {{ citycheck.valid_in_year('d', 's.year') }}
    {% if is_incremental() %}
    inner join index_touched as t on t.city_code = s.city_code and t.year = s.year
    {% endif %}
),

dimension_scores as (
    select
        u.city_code, u.district_code, u.district_key, u.year, e.chc_dimension_code,
        sum(e.weight) as weight_expected,
        count(*) as indicators_expected,
        count(s.score) as indicators_scored,
        coalesce(sum(case when s.score is not null then e.weight end), 0) as weight_scored,
        sum(s.score * e.weight)
            / nullif(sum(case when s.score is not null then e.weight end), 0) as weighted_mean,
        count(s.score_relative) as indicators_scored_relative,
        coalesce(sum(case when s.score_relative is not null then e.weight end), 0)
            as weight_scored_relative,
        sum(s.score_relative * e.weight)
            / nullif(sum(case when s.score_relative is not null then e.weight end), 0)
            as weighted_mean_relative
    from units as u
    inner join expected as e
        on e.city_code = u.city_code and {{ citycheck.in_framework('e', 'u.year') }}
    left join {{ ref('int_indicator_scores') }} as s
        on s.district_code = u.district_code and s.year = u.year
        and s.indicator_code = e.indicator_code
    group by u.city_code, u.district_code, u.district_key, u.year, e.chc_dimension_code
),

dimensions as (
    select
        city_code, district_code, district_key, year, chc_dimension_code as dimension_code,
        indicators_expected, indicators_scored,
        {{ citycheck.round_to("weight_scored / weight_expected", 4) }} as coverage,
        case when weight_scored / weight_expected >= {{ var('min_index_coverage') }}
            then {{ citycheck.round_to("weighted_mean", 4) }} end as score,
        {{ citycheck.round_to("weight_scored_relative / weight_expected", 4) }}
            as coverage_relative,
        case when weight_scored_relative / weight_expected >= {{ var('min_index_coverage') }}
            then {{ citycheck.round_to("weighted_mean_relative", 4) }} end as score_relative
    from dimension_scores
),

overall as (
    select
        city_code, district_code, district_key, year, 'overall' as dimension_code,
        count(*) as indicators_expected,
        count(score) as indicators_scored,
        {{ citycheck.round_to("count(score) * 1.0 / count(*)", 4) }} as coverage,
        case when count(score) * 1.0 / count(*) >= {{ var('min_index_coverage') }}
            then {{ citycheck.round_to("avg(score)", 4) }} end as score,
        {{ citycheck.round_to("count(score_relative) * 1.0 / count(*)", 4) }}
            as coverage_relative,
        case when count(score_relative) * 1.0 / count(*) >= {{ var('min_index_coverage') }}
            then {{ citycheck.round_to("avg(score_relative)", 4) }} end as score_relative
    from dimensions
    group by city_code, district_code, district_key, year
),

both_levels as (
    select * from dimensions
    union all
    select * from overall
)

select
    b.district_code || '|' || cast(b.year as text) || '|' || b.dimension_code as index_id,
    b.city_code,
    b.district_code,
    b.district_key,
    dd.district_name_zh,
    b.year,
    b.dimension_code,
    coalesce(c.name_zh, '综合') as dimension_name_zh,
    coalesce(c.name_en, 'Overall') as dimension_name_en,
    b.score,
    b.coverage,
    b.indicators_scored,
    b.indicators_expected,
    case when b.score is null then 'insufficient_coverage' else 'scored' end as score_status,
    b.score_relative,
    b.coverage_relative,
    {{ citycheck.built_at() }} as built_at
from both_levels as b
inner join {{ ref('dim_district') }} as dd on dd.district_key = b.district_key
left join {{ ref('classifications') }} as c on c.classification_code = b.dimension_code
