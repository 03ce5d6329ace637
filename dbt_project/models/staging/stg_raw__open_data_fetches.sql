select
    fetch_id,
    source_name,
    url,
    http_status,
    bytes,
    content_hash,
    fetched_at,
    etag,
    last_modified,
    payload_path,
    status as fetch_status,
    records,
    observations_accepted,
    observations_rejected,
    message
from {{ source('raw', 'open_data_fetches') }}
