select
    update_id,
    problem_id,
    city_code,
    status,
    cause,
    measure,
    deadline,
    recorded_at,
    recorded_by,
    previous_update
from {{ source('raw', 'problem_updates') }}
