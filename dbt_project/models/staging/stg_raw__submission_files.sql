select
    file_hash,
    original_name,
    archived_path,
    size_bytes,
    received_at,
    city_code,
    department_code,
    year as reporting_year,
    layout,
    status as file_status,
    rows_read,
    rows_accepted,
    rows_rejected,
    rows_ignored,
    message
from {{ source('raw', 'submission_files') }}
