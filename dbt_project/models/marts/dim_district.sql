-- District-level units with history: one row per version (a rename or a change of status
-- starts a new row). Facts join the version valid in their year through district_key.
select
    d.district_code || '@' || cast(d.valid_from as text) as district_key,
    d.district_code,
    d.city_code,
    c.name_zh as city_name_zh,
    c.name_en as city_name_en,
    d.name_zh as district_name_zh,
    d.name_en as district_name_en,
    d.unit_level,
    d.code_kind,
    d.is_central_city,
    d.reports_indicators,
    d.valid_from,
    d.valid_to,
    d.valid_to is null as is_current,
    d.history_note
from {{ ref('districts') }} as d
inner join {{ ref('cities') }} as c on c.city_code = d.city_code
