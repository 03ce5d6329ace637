-- 整改记录 The history of the problem list: every step the office took on a problem
-- (raw.problem_updates: appended, never changed), numbered in order per problem; the latest
-- step is the problem's state in mart_problems.
select
    update_id,
    problem_id,
    city_code,
    cast(split_part(problem_id, '|', 2) as integer) as year,
    split_part(problem_id, '|', 3) as district_code,
    split_part(problem_id, '|', 4) as indicator_code,
    row_number() over (partition by problem_id order by recorded_at, update_id) as step,
    status,
    cause,
    measure,
    deadline,
    recorded_at,
    recorded_by,
    previous_update
from {{ ref('stg_raw__problem_updates') }}
