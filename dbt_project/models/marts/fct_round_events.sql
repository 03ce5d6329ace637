-- Every event of every reporting round (轮次记录): opened by the calendar or early by the
-- office, closed (with what stayed missing when closed anyway), reopened; who, when, why.
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
from {{ ref('stg_raw__round_events') }}
