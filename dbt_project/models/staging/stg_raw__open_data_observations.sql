select
    fetch_id,
    source_name,
    record_number as source_row,
    field_name,
    record_json,
    status as observation_status,
    reason,
    indicator_code,
    district_text,
    district_code,
    year_text,
    year,
    value_text,
    value,
    value is null as is_missing,
    loaded_at
from {{ source('raw', 'open_data_observations') }}
