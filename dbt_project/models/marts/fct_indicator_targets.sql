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
    and d.valid_from <= {{ citycheck.year_end('t.target_year') }}
    and (d.valid_to is null or d.valid_to >= {{ citycheck.year_start('t.target_year') }})
