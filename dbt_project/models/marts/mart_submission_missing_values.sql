-- The dispatch list in detail: every value a department owes in an opened round and has not
-- delivered (mart_round_values, value_state owed). A value reported as missing (—, 无) was
-- delivered: it is shown as missing, not chased; a value held for review or returned is in
-- mart_review_queue.
select
    e.city_code || '|' || cast(e.year as text) || '|' || e.district_code || '|'
        || e.indicator_code as missing_id,
    e.city_code,
    e.city_name_zh,
    e.year,
    e.department_code,
    e.department_name_zh,
    e.district_code,
    e.district_name_zh,
    e.indicator_code,
    e.indicator_name_zh
from {{ ref('mart_round_values') }} as e
where e.value_state = 'owed'
