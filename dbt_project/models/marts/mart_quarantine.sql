-- Every rejected row or observation, with where it was and why: what the departments and
-- data engineers work through. Nothing rejected is ever dropped silently.
select
    'submission:' || r.file_hash || ':' || r.sheet_name || '!'
        || coalesce(r.source_cell, cast(r.source_row as text)) as quarantine_id,
    'submission' as source_type,
    r.file_hash as source_id,
    f.original_name as source_name,
    f.department_code,
    f.city_code,
    r.sheet_name as source_part,
    r.source_row,
    r.source_cell,
    r.error_column as field_name,
    r.indicator_text,
    r.district_text,
    r.year_text,
    r.value_text,
    r.reason,
    f.received_at
from {{ ref('stg_raw__submission_rows') }} as r
inner join {{ ref('stg_raw__submission_files') }} as f on f.file_hash = r.file_hash
where r.row_status = 'rejected'
union all
select
    'open_data:' || o.fetch_id || ':' || o.field_name || ':' || cast(o.source_row as text),
    'open_data',
    o.fetch_id,
    o.source_name,
    cast(null as text),
    cast(null as text),
    cast(null as text),
    o.source_row,
    cast(null as text),
    o.field_name,
    o.indicator_code,
    o.district_text,
    o.year_text,
    o.value_text,
    o.reason,
    f.fetched_at
from {{ ref('stg_raw__open_data_observations') }} as o
inner join {{ ref('stg_raw__open_data_fetches') }} as f on f.fetch_id = o.fetch_id
where o.observation_status = 'rejected'
