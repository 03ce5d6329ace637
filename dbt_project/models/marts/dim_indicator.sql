-- The catalogue, one row per indicator. Its groups (city-health-check dimension, Refined City
-- pillar and aspect, Zibo action) are those of the latest framework that holds it
-- (framework_items, by programme and year: int_framework has them year by year).
with classes as (
    select classification_code, name_zh, name_en from {{ ref('classifications') }}
),

latest_groups as (
    select indicator_code, scheme, classification_code
    from (
        select
            indicator_code, scheme, classification_code,
            row_number() over (
                partition by indicator_code, scheme
                order by first_year desc, programme_code
            ) as recency
        from {{ ref('framework_items') }}
    ) as ranked
    where recency = 1
),

groups as (
    select
        indicator_code,
        max(case when scheme = 'city_health_check' then classification_code end)
            as chc_dimension_code,
        max(case when scheme = 'refined_city_pillar' then classification_code end)
            as rc_pillar_code,
        max(case when scheme = 'refined_city_aspect' then classification_code end)
            as rc_aspect_code,
        max(case when scheme = 'zibo_action' then classification_code end) as zibo_action_code
    from latest_groups
    group by indicator_code
)

select
    i.indicator_code,
    i.name_zh as indicator_name_zh,
    i.name_en as indicator_name_en,
    i.unit,
    i.direction,
    i.indicator_type,
    case i.indicator_type when 'guidance' then '导向' when 'bottom_line' then '底线' end
        as indicator_type_zh,
    g.chc_dimension_code,
    chc.name_zh as chc_dimension_zh,
    chc.name_en as chc_dimension_en,
    g.rc_pillar_code,
    rc.name_zh as rc_pillar_zh,
    rc.name_en as rc_pillar_en,
    g.zibo_action_code,
    zb.name_zh as zibo_action_zh,
    i.department_code,
    i.aggregation,
    i.reporting_level,
    i.measure,
    i.decimals,
    i.valid_min,
    i.valid_max,
    i.band_low,
    i.band_high,
    i.required_every_year,
    i.source_documents,
    g.rc_aspect_code,
    ra.name_zh as rc_aspect_zh,
    ra.name_en as rc_aspect_en
from {{ ref('indicators') }} as i
left join groups as g on g.indicator_code = i.indicator_code
left join classes as chc on chc.classification_code = g.chc_dimension_code
left join classes as rc on rc.classification_code = g.rc_pillar_code
left join classes as ra on ra.classification_code = g.rc_aspect_code
left join classes as zb on zb.classification_code = g.zibo_action_code
