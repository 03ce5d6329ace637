select
    review_id,
    file_hash,
    record_number,
    city_code,
    indicator_code,
    district_code,
    year,
    action,
    recorded_at,
    recorded_by,
    role,
    reason,
    previous_review
from {{ source('raw', 'value_reviews') }}
