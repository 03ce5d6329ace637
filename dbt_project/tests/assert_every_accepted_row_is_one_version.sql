-- Every accepted row of a loaded file is exactly one version of a fact value, and every
-- version comes from exactly one accepted row: nothing lost, nothing doubled.
with accepted as (
    select r.file_hash as source_id, r.sheet_name as source_part, r.record_number,
        r.source_cell
    from {{ ref('stg_raw__submission_rows') }} as r
    inner join {{ ref('stg_raw__submission_files') }} as f on f.file_hash = r.file_hash
    where r.row_status = 'accepted' and f.file_status = 'loaded'
),

versions as (
    select source_id, source_part, source_cell, count(*) as n
    from {{ ref('fct_indicator_value_versions') }}
    where source_type = 'submission'
    group by source_id, source_part, source_cell
)

-- every accepted record has its cell, and no two records of a file share one
select a.source_id, a.source_part, a.source_cell, v.n
from accepted as a
full outer join versions as v
    on v.source_id = a.source_id and v.source_part = a.source_part
    and v.source_cell = a.source_cell
where a.source_id is null or v.source_id is null or v.n <> 1 or a.source_cell is null
