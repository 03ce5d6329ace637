-- The Refined City sustainable-development index (精致城市可持续发展指数, seed 004: "论坛将发布
-- 精致城市可持续发展指数"), per city and year, over the five aspects of the programme's
-- evaluation system (精致城市评价指标体系, "生态环境、城市特色、公共服务等5个方面"): one row per
-- aspect, with the city-year's index on each. Method (docs/analysts.md, "The
-- sustainable-development index"), on the base-year scores of int_indicator_scores (against
-- fixed goalposts, so years compare):
--   indicator score (city) = mean of its districts' scores that year;
--   aspect score = mean of the scores of the aspect's indicators — those the framework puts in
--     that aspect that year (int_framework, scheme refined_city_aspect) — weighted by
--     index_weights; coverage = weight scored / weight expected; below min_index_coverage the
--     aspect has no score (never a guess, never a zero);
--   index = plain mean of the aspect scores, when at least min_index_coverage of the aspects
--     have one (aspects_scored / aspects_expected).
-- Only programmes whose framework has aspects (Weihai's) have rows.
-- Incremental by city x year, as mart_dimension_index (macro city_years_touched).
-- depends_on: {{ ref('fct_indicator_values') }} (the pre-hook's city-years)
-- depends_on: {{ ref('int_index_goalposts') }} (the pre-hook's base years)
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.city_years_touched('sdi_touched', base_years=true) }}",
) }}

with expected as (
    select city_code, classification_code as aspect_code, indicator_code, first_year,
        last_year, weight
    from {{ ref('int_index_framework') }}
    where scheme = 'refined_city_aspect'
),

city_years as (
    select distinct s.city_code, s.year
    from {{ ref('int_indicator_scores') }} as s
    {% if is_incremental() %}
    inner join sdi_touched as t on t.city_code = s.city_code and t.year = s.year
    {% endif %}
    where s.city_code in (select city_code from expected)
),

indicator_scores as (
    -- each indicator's city score: the mean of its districts' scores
    select s.city_code, s.year, s.indicator_code, avg(s.score) as score
    from {{ ref('int_indicator_scores') }} as s
    inner join city_years as y on y.city_code = s.city_code and y.year = s.year
    where s.score is not null
    group by s.city_code, s.year, s.indicator_code
),

aspects as (
    select
        y.city_code, y.year, e.aspect_code,
        count(*) as indicators_expected,
        count(s.score) as indicators_scored,
        sum(e.weight) as weight_expected,
        coalesce(sum(case when s.score is not null then e.weight end), 0) as weight_scored,
        sum(s.score * e.weight)
            / nullif(sum(case when s.score is not null then e.weight end), 0) as weighted_mean
    from city_years as y
    inner join expected as e
        on e.city_code = y.city_code and {{ citycheck.in_framework('e', 'y.year') }}
    left join indicator_scores as s
        on s.city_code = y.city_code and s.year = y.year and s.indicator_code = e.indicator_code
    group by y.city_code, y.year, e.aspect_code
),

scored as (
    select
        *,
        {{ citycheck.round_to("weight_scored / weight_expected", 4) }} as coverage,
        case when weight_scored / weight_expected >= {{ var('min_index_coverage') }}
            then {{ citycheck.round_to("weighted_mean", 4) }} end as aspect_score
    from aspects
),

city_index as (
    select
        city_code, year,
        count(*) as aspects_expected,
        count(aspect_score) as aspects_scored,
        case when count(aspect_score) * 1.0 / count(*) >= {{ var('min_index_coverage') }}
            then {{ citycheck.round_to("avg(aspect_score)", 4) }} end as index_value
    from scored
    group by city_code, year
)

select
    s.city_code || '|' || cast(s.year as text) || '|' || s.aspect_code as aspect_year_id,
    s.city_code,
    s.year,
    s.aspect_code,
    c.name_zh as aspect_name_zh,
    c.name_en as aspect_name_en,
    c.named_in_source as aspect_named_in_source,
    c.sort_order as aspect_order,
    s.aspect_score,
    s.coverage,
    s.indicators_scored,
    s.indicators_expected,
    ci.index_value,
    ci.aspects_scored,
    ci.aspects_expected,
    {{ citycheck.built_at() }} as built_at
from scored as s
inner join city_index as ci on ci.city_code = s.city_code and ci.year = s.year
inner join {{ ref('classifications') }} as c
    on c.classification_code = s.aspect_code and c.scheme = 'refined_city_aspect'
