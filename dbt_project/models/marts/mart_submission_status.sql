-- The dispatch list the city sends out: per city, reporting year and department, what was
-- expected, what arrived, what is held or returned in review and what is still missing
-- (counted from mart_round_values, the round's one definition). `citycheck status` prints it.
with expected as (
    select
        city_code,
        year,
        department_code,
        max(due_on) as due_on,
        count(*) as values_expected,
        count(case when value_state in ('received', 'reported_missing', 'confirmed') then 1 end)
            as values_present,
        count(case when value_state in ('received', 'reported_missing', 'confirmed')
            and is_missing then 1 end) as values_reported_missing,
        count(case when value_state = 'owed' then 1 end) as values_missing,
        count(case when value_state in ('held', 'answered') then 1 end) as values_held,
        count(case when value_state = 'returned' then 1 end) as values_returned
    from {{ ref('mart_round_values') }}
    group by city_code, year, department_code
),

files as (
    select
        city_code,
        reporting_year as year,
        department_code,
        count(*) as files_received,
        count(case when file_status = 'rejected' then 1 end) as files_refused,
        max(received_at) as last_received_at
    from {{ ref('stg_raw__submission_files') }}
    where city_code is not null and department_code is not null and reporting_year is not null
    group by city_code, reporting_year, department_code
),

records as (
    select
        f.city_code,
        coalesce(r.year, f.reporting_year) as year,
        f.department_code,
        count(*) as records_received,
        count(case when r.row_status = 'accepted' then 1 end) as records_accepted,
        count(case when r.row_status = 'rejected' then 1 end) as records_rejected
    from {{ ref('stg_raw__submission_rows') }} as r
    inner join {{ ref('stg_raw__submission_files') }} as f on f.file_hash = r.file_hash
    where f.file_status = 'loaded' and r.row_status in ('accepted', 'rejected')
    group by f.city_code, coalesce(r.year, f.reporting_year), f.department_code
),

keys as (
    select city_code, year, department_code from expected
    union
    select city_code, year, department_code from files
)

select
    k.city_code || '|' || cast(k.year as text) || '|' || k.department_code as status_id,
    k.city_code,
    c.name_zh as city_name_zh,
    k.year,
    k.department_code,
    dep.department_name_zh,
    dep.department_name_en,
    coalesce(e.values_expected, 0) as values_expected,
    coalesce(e.values_present, 0) as values_present,
    coalesce(e.values_reported_missing, 0) as values_reported_missing,
    coalesce(e.values_missing, 0) as values_missing,
    coalesce(e.values_held, 0) as values_held,
    coalesce(e.values_returned, 0) as values_returned,
    e.due_on,
    coalesce(fi.files_received, 0) as files_received,
    coalesce(fi.files_refused, 0) as files_refused,
    coalesce(r.records_received, 0) as records_received,
    coalesce(r.records_accepted, 0) as records_accepted,
    coalesce(r.records_rejected, 0) as records_rejected,
    fi.last_received_at,
    case
        when coalesce(e.values_expected, 0) = coalesce(e.values_present, 0) then 'complete'
        when coalesce(e.values_missing, 0) = 0 then 'in_review'
        when coalesce(e.values_expected, 0) = coalesce(e.values_missing, 0)
            and coalesce(fi.files_received, 0) = 0 then 'not_submitted'
        else 'incomplete'
    end as submission_status
from keys as k
inner join {{ ref('cities') }} as c on c.city_code = k.city_code
inner join {{ ref('dim_department') }} as dep on dep.department_code = k.department_code
left join expected as e
    on e.city_code = k.city_code and e.year = k.year and e.department_code = k.department_code
left join files as fi
    on fi.city_code = k.city_code and fi.year = k.year and fi.department_code = k.department_code
left join records as r
    on r.city_code = k.city_code and r.year = k.year and r.department_code = k.department_code
