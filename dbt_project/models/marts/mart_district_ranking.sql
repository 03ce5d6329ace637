-- Districts ranked per city and year, overall and on each dimension (1 = best score; ties
-- share a rank), on the index comparable across years (score) and on the relative one of
-- earlier publications (score_relative, rank_relative). A district without a score
-- (insufficient coverage) is listed unranked.
-- Incremental by city x year, as mart_dimension_index (macro city_years_touched).
-- depends_on: {{ ref('fct_indicator_values') }} (the pre-hook's city-years)
-- depends_on: {{ ref('int_index_goalposts') }} (the pre-hook's base years)
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.city_years_touched('ranking_touched', base_years=true) }}",
) }}

select
    i.index_id as ranking_id,
    i.city_code,
    i.year,
    i.dimension_code,
    i.dimension_name_zh,
    i.district_code,
    i.district_name_zh,
    i.score,
    i.coverage,
    case when i.score is not null then rank() over (
        partition by i.city_code, i.year, i.dimension_code, i.score is null
        order by i.score desc
    ) end as rank_in_city,
    count(i.score) over (partition by i.city_code, i.year, i.dimension_code) as districts_ranked,
    -- on the score of earlier publications (min-max within the year), for continuity
    i.score_relative,
    case when i.score_relative is not null then rank() over (
        partition by i.city_code, i.year, i.dimension_code, i.score_relative is null
        order by i.score_relative desc
    ) end as rank_relative,
    {{ citycheck.built_at() }} as built_at
from {{ ref('mart_dimension_index') }} as i
{% if is_incremental() %}
inner join ranking_touched as t on t.city_code = i.city_code and t.year = i.year
{% endif %}
