-- The reporting rounds (报送轮次): one row per programme, city and reporting year opened so far,
-- with its state (open: nothing received yet; collecting; closed by the office), its dates
-- and what it holds: values expected, received, still owed, held for review, returned, and
-- its completeness. A round that is not closed is provisional: its values are published as
-- they stand, marked 暂定 provisional with the completeness (完成度) beside them.
with round_values as (
    select
        city_code,
        year,
        count(*) as values_expected,
        count(case when value_state in ('received', 'reported_missing', 'confirmed') then 1 end)
            as values_received,
        count(case when value_state = 'owed' then 1 end) as values_missing,
        count(case when value_state in ('held', 'answered') then 1 end) as values_held,
        count(case when value_state = 'returned' then 1 end) as values_returned,
        count(case when value_state = 'confirmed' then 1 end) as values_confirmed
    from {{ ref('mart_round_values') }}
    group by city_code, year
),

files as (
    select city_code, reporting_year as year, count(*) as files_received
    from {{ ref('stg_raw__submission_files') }}
    where city_code is not null and reporting_year is not null
    group by city_code, reporting_year
)

select
    r.programme_code || '|' || cast(r.year as text) as round_id,
    r.programme_code,
    p.name_zh as programme_name_zh,
    p.name_en as programme_name_en,
    r.city_code,
    c.name_zh as city_name_zh,
    c.name_en as city_name_en,
    r.year,
    case
        when r.last_event = 'closed' then 'closed'
        when coalesce(v.values_expected, 0) > coalesce(v.values_missing, 0)
            or coalesce(fi.files_received, 0) > 0 then 'collecting'
        else 'open'
    end as round_state,
    r.opened_at,
    r.opened_by,
    r.due_on,
    r.closed_at,
    r.closed_by,
    r.close_reason,
    r.close_detail,
    coalesce(v.values_expected, 0) as values_expected,
    coalesce(v.values_received, 0) as values_received,
    coalesce(v.values_missing, 0) as values_missing,
    coalesce(v.values_held, 0) as values_held,
    coalesce(v.values_returned, 0) as values_returned,
    coalesce(v.values_confirmed, 0) as values_confirmed,
    coalesce(fi.files_received, 0) as files_received,
    case when coalesce(v.values_expected, 0) > 0
        then {{ citycheck.round_to('100.0 * v.values_received / v.values_expected', 1) }}
    end as completeness_pct,
    r.last_event <> 'closed' as is_provisional
from {{ ref('int_rounds') }} as r
left join {{ ref('programmes') }} as p on p.programme_code = r.programme_code
inner join {{ ref('cities') }} as c on c.city_code = r.city_code
left join round_values as v on v.city_code = r.city_code and v.year = r.year
left join files as fi on fi.city_code = r.city_code and fi.year = r.year
