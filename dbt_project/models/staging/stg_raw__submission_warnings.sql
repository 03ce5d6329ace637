select
    file_hash,
    record_number,
    sheet_name,
    cell,
    indicator_code,
    district_code,
    year,
    rule,
    compared_with,
    message,
    coalesce(action, 'inform') as action
from {{ source('raw', 'submission_warnings') }}
