-- Every accepted value from both intake paths, with where it came from and when it arrived.
-- Incremental: raw files and fetches never change once landed, so a build appends the values
-- of the files and fetches this table does not hold yet (docs/performance.md). A change to
-- the models or seeds makes citycheck rebuild it in full (citycheck/warehouse/build.py).
{{ config(materialized='incremental', incremental_strategy='append') }}

with submitted as (
    select
        'submission' as source_type,
        r.file_hash as source_id,
        r.sheet_name as source_part,
        r.record_number as source_record,
        r.source_row,
        r.source_cell,
        f.city_code,
        f.department_code,
        r.district_code,
        r.indicator_code,
        r.year,
        r.value,
        r.is_missing,
        r.quality_flag,
        f.received_at
    from {{ ref('stg_raw__submission_rows') }} as r
    inner join {{ ref('stg_raw__submission_files') }} as f on f.file_hash = r.file_hash
    where r.row_status = 'accepted' and f.file_status = 'loaded'
    {% if is_incremental() %}
        and f.file_hash not in (
            select source_id from {{ this }} where source_type = 'submission'
        )
    {% endif %}
),

fetched as (
    select
        'open_data' as source_type,
        o.fetch_id as source_id,
        o.field_name as source_part,
        cast(null as integer) as source_record,
        o.source_row,
        cast(null as text) as source_cell,
        d.city_code,
        i.department_code,
        o.district_code,
        o.indicator_code,
        o.year,
        o.value,
        o.is_missing,
        cast(null as text) as quality_flag,
        f.fetched_at as received_at
    from {{ ref('stg_raw__open_data_observations') }} as o
    inner join {{ ref('stg_raw__open_data_fetches') }} as f on f.fetch_id = o.fetch_id
    inner join {{ ref('indicators') }} as i on i.indicator_code = o.indicator_code
    inner join {{ ref('districts') }} as d on d.district_code = o.district_code
    where o.observation_status = 'accepted' and f.fetch_status = 'loaded'
    {% if is_incremental() %}
        and f.fetch_id not in (select source_id from {{ this }} where source_type = 'open_data')
    {% endif %}
)

-- A wide row holds one value per district: a submitted value is identified by its cell.
-- appended_at: the build that appended the row (rows never change once appended), so a
-- check reads only the rows no passing build has checked (the uniqueness test below,
-- tests/assert_every_accepted_row_is_one_version.sql).
select
    source_type || ':' || source_id || ':' || source_part || '!'
        || coalesce(source_cell, cast(source_row as text)) as observation_id,
    *,
    {{ citycheck.built_at() }} as appended_at
from submitted
union all
select
    source_type || ':' || source_id || ':' || source_part || ':' || cast(source_row as text)
        as observation_id,
    *,
    {{ citycheck.built_at() }} as appended_at
from fetched
