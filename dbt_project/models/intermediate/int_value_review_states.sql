-- Each version held at intake (a plausibility rule whose action is hold, or a cell intake
-- marked as doubtful: raw.submission_warnings.action = 'hold') and where its review stands:
-- held until the office acts, then the state its last step leads to (raw.value_reviews;
-- citycheck/warehouse/rounds.py holds the same transitions): return -> returned,
-- answer (the department) -> answered, confirm -> confirmed. Only confirmed is published.
with holds as (
    select
        file_hash,
        record_number,
        min(sheet_name) as sheet_name,
        min(cell) as cell,
        min(indicator_code) as indicator_code,
        min(district_code) as district_code,
        min(year) as year,
        {{ dbt.listagg('message', "'; '", "order by rule") }} as held_because
    from {{ ref('stg_raw__submission_warnings') }}
    where action = 'hold'
    group by file_hash, record_number
),

steps as (
    select
        *,
        row_number() over (
            partition by file_hash, record_number order by recorded_at desc, review_id desc
        ) as newest_first,
        count(*) over (partition by file_hash, record_number) as review_steps
    from {{ ref('stg_raw__value_reviews') }}
)

select
    h.file_hash,
    h.record_number,
    h.sheet_name,
    h.cell,
    h.indicator_code,
    h.district_code,
    h.year,
    h.held_because,
    case s.action
        when 'confirm' then 'confirmed'
        when 'return' then 'returned'
        when 'answer' then 'answered'
        else 'held'
    end as review_state,
    s.review_id as last_review_id,
    s.action as last_action,
    s.recorded_at as last_reviewed_at,
    s.recorded_by as last_reviewed_by,
    s.reason as last_review_reason,
    coalesce(s.review_steps, 0) as review_steps
from holds as h
left join steps as s
    on s.file_hash = h.file_hash and s.record_number = h.record_number and s.newest_first = 1
