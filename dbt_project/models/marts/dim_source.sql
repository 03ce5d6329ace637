-- Where values come from: one row per department file received, and per open-data fetch that
-- delivered records (accepted or rejected). A fetch that brought nothing new (unchanged, not
-- modified, failed) is an attempt, not a source: it stays in raw.open_data_fetches, which
-- `citycheck freshness` reads, so identical runs publish identical lineage.
select
    'submission' as source_type,
    file_hash as source_id,
    department_code as source_owner,
    city_code,
    original_name as source_name,
    archived_path as source_location,
    -- a file re-sent after every earlier sending was refused lands as <sha256>~n
    split_part(file_hash, '~', 1) as content_hash,
    received_at,
    file_status as source_status,
    rows_read as records_read,
    rows_accepted as records_accepted,
    rows_rejected as records_rejected,
    message
from {{ ref('stg_raw__submission_files') }}
union all
select
    'open_data' as source_type,
    fetch_id as source_id,
    source_name as source_owner,
    cast(null as text) as city_code,
    url as source_name,
    payload_path as source_location,
    content_hash,
    fetched_at as received_at,
    fetch_status as source_status,
    records as records_read,
    observations_accepted as records_accepted,
    observations_rejected as records_rejected,
    message
from {{ ref('stg_raw__open_data_fetches') }}
where fetch_id in (select fetch_id from {{ ref('stg_raw__open_data_observations') }})
