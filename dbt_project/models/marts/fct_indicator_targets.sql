select
    t.target_id,
    t.city_code,
    t.district_code,
    d.district_key,
    t.indicator_code,
    t.target_year,
    t.basis,
    t.base_year,
    t.comparator,
    t.target_value,
    t.target_text_zh,
    t.source_document,
    t.note
from {{ ref('targets') }} as t
left join {{ ref('dim_district') }} as d
    on d.district_code = t.district_code
    and {{ citycheck.valid_in_year('d', 't.target_year') }}
