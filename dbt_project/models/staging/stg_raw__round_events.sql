select
    event_id,
    programme_code,
    city_code,
    year,
    event,
    due_on,
    recorded_at,
    recorded_by,
    reason,
    detail
from {{ source('raw', 'round_events') }}
