-- Grain: district x indicator x year, the current version of each value.
select
    v.district_code || '|' || v.indicator_code || '|' || cast(v.year as text) as value_id,
    v.city_code,
    v.district_code,
    v.district_key,
    v.indicator_code,
    v.department_code,
    v.year,
    v.value,
    v.is_missing,
    v.quality_flag,
    v.revision_count > 0 as is_revised,
    v.revision_count,
    v.version_count,
    v.previous_version_value,
    v.source_type,
    v.source_id,
    v.source_part,
    v.source_row,
    v.source_cell,
    v.received_at
from {{ ref('fct_indicator_value_versions') }} as v
where v.is_current
