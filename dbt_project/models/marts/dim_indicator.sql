with classes as (
    select classification_code, name_zh, name_en from {{ ref('classifications') }}
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
    i.chc_dimension_code,
    chc.name_zh as chc_dimension_zh,
    chc.name_en as chc_dimension_en,
    i.rc_pillar_code,
    rc.name_zh as rc_pillar_zh,
    rc.name_en as rc_pillar_en,
    i.zibo_action_code,
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
    i.source_documents
from {{ ref('indicators') }} as i
left join classes as chc on chc.classification_code = i.chc_dimension_code
left join classes as rc on rc.classification_code = i.rc_pillar_code
left join classes as zb on zb.classification_code = i.zibo_action_code
