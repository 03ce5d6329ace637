-- Every step of every review (审核记录), queryable: the hold at intake (by the rule that held
-- the value), then each step the office and the department took (raw.value_reviews), with
-- who, when and why.
with holds as (
    select
        'hold:' || rs.file_hash || ':' || cast(rs.record_number as text) as review_step_id,
        rs.file_hash,
        rs.record_number,
        'hold' as action,
        'held' as state_after,
        s.received_at as recorded_at,
        'intake' as recorded_by,
        'intake' as role,
        rs.held_because as reason
    from {{ ref('int_value_review_states') }} as rs
    inner join {{ ref('stg_raw__submission_files') }} as s on s.file_hash = rs.file_hash
),

steps as (
    select
        r.review_id as review_step_id,
        r.file_hash,
        r.record_number,
        r.action,
        case r.action
            when 'confirm' then 'confirmed' when 'return' then 'returned' else 'answered'
        end as state_after,
        r.recorded_at,
        r.recorded_by,
        r.role,
        r.reason
    from {{ ref('stg_raw__value_reviews') }} as r
),

all_steps as (
    select * from holds
    union all
    select * from steps
)

select
    a.review_step_id,
    a.file_hash || ':' || cast(a.record_number as text) as review_item_id,
    rs.city_code,
    rs.year,
    rs.department_code,
    rs.district_code,
    rs.indicator_code,
    rs.value,
    a.action,
    a.state_after,
    a.recorded_at,
    a.recorded_by,
    a.role,
    a.reason
from all_steps as a
inner join (
    select r.file_hash, r.record_number, f.city_code, f.department_code, r.year,
        r.district_code, r.indicator_code, r.value
    from {{ ref('stg_raw__submission_rows') }} as r
    inner join {{ ref('stg_raw__submission_files') }} as f on f.file_hash = r.file_hash
    inner join (select distinct file_hash, record_number
                from {{ ref('int_value_review_states') }}) as h
        on h.file_hash = r.file_hash and h.record_number = r.record_number
) as rs on rs.file_hash = a.file_hash and rs.record_number = a.record_number
