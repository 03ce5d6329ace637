-- Districts ranked per city and year, overall and on each dimension (1 = best score; ties
-- share a rank). A district without a score (insufficient coverage) is listed unranked.
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
    count(i.score) over (partition by i.city_code, i.year, i.dimension_code) as districts_ranked
from {{ ref('mart_dimension_index') }} as i
