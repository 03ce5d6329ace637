-- The office's review queue (审核队列): every value held for review that is still open: held
-- at intake, returned to its department, or answered by it, and not superseded by a newer
-- version. None of them is published as current: fct_indicator_values keeps the version
-- before it (under_review = true), or nothing. `citycheck review list` and the portal read
-- this; review_item_id is what `citycheck review confirm|return|answer` takes, and
-- last_review_id the state the office saw (a step on a value that changed since is refused).
select
    rs.file_hash || ':' || cast(rs.record_number as text) as review_item_id,
    rs.file_hash,
    rs.record_number,
    v.city_code,
    v.year,
    v.department_code,
    dep.department_name_zh,
    dep.department_name_en,
    v.district_code,
    d.district_name_zh,
    v.indicator_code,
    i.indicator_name_zh,
    i.indicator_name_en,
    i.unit,
    v.value,
    v.is_missing,
    f.value as published_value,
    rs.review_state,
    rs.held_because,
    rs.last_review_id,
    rs.last_action,
    rs.last_reviewed_at,
    rs.last_reviewed_by,
    rs.last_review_reason,
    rs.review_steps,
    s.original_name as source_file,
    rs.sheet_name,
    rs.cell,
    v.received_at
from {{ ref('int_value_review_states') }} as rs
inner join {{ ref('int_indicator_values_versioned') }} as v
    on v.source_type = 'submission' and v.source_id = rs.file_hash
    and v.source_record = rs.record_number
inner join {{ ref('stg_raw__submission_files') }} as s on s.file_hash = rs.file_hash
inner join {{ ref('dim_department') }} as dep on dep.department_code = v.department_code
inner join {{ ref('dim_district') }} as d
    on d.district_code = v.district_code and {{ citycheck.valid_in_year('d', 'v.year') }}
inner join {{ ref('dim_indicator') }} as i on i.indicator_code = v.indicator_code
left join {{ ref('fct_indicator_values') }} as f
    on f.district_code = v.district_code and f.indicator_code = v.indicator_code
    and f.year = v.year
where rs.review_state in ('held', 'returned', 'answered')
    and v.version_number = v.version_count
