-- Every accepted row of a loaded file is exactly one version of a fact value, and every
-- version comes from exactly one accepted row: nothing lost, nothing doubled.
-- Read where a build can have changed either side since the latest passing build (which
-- checked the rest): the versions rewritten since (a value's versions are rewritten
-- together: fct_indicator_value_versions is delete+insert by value), with the accepted rows
-- of those values, and every accepted row of a file that is not settled — not appended to
-- int_observations_unioned by a build before then (a new file, one a failed build took in,
-- one that never got there at all). A full rebuild rewrites everything: all is read.
with checked as (
    select coalesce(max(finished_at), cast('1900-01-01' as timestamp)) as until
    from audit.builds where status = 'success'
),

settled as (
    select distinct source_id
    from {{ ref('int_observations_unioned') }}
    where source_type = 'submission' and appended_at <= (select until from checked)
),

rewritten as (
    select distinct district_code, indicator_code, year
    from {{ ref('fct_indicator_value_versions') }}
    where built_at > (select until from checked)
),

accepted as (
    select r.file_hash as source_id, r.sheet_name as source_part, r.record_number,
        r.source_cell
    from {{ ref('stg_raw__submission_rows') }} as r
    inner join {{ ref('stg_raw__submission_files') }} as f on f.file_hash = r.file_hash
    where r.row_status = 'accepted' and f.file_status = 'loaded'
        and (r.file_hash not in (select source_id from settled)
             or (r.district_code, r.indicator_code, r.year) in (select * from rewritten))
),

versions as (
    select source_id, source_part, source_cell, count(*) as n
    from {{ ref('fct_indicator_value_versions') }}
    where source_type = 'submission' and built_at > (select until from checked)
    group by source_id, source_part, source_cell
)

-- every accepted record has its cell, and no two records of a file share one
select a.source_id, a.source_part, a.source_cell, v.n
from accepted as a
full outer join versions as v
    on v.source_id = a.source_id and v.source_part = a.source_part
    and v.source_cell = a.source_cell
where a.source_id is null or v.source_id is null or v.n <> 1 or a.source_cell is null
